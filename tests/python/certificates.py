"""Throw-away certificates for TLS tests, made with the openssl command line.

make_test_pki(dir) writes a CA, a server certificate for localhost / 127.0.0.1 and a client
certificate signed by it, and a second, unrelated CA with a client certificate of its own (for
"signed by someone else" checks). EC P-256 keys: fast to make. Valid for 2 days.
"""

import pathlib
import subprocess
import types

_DAYS = "2"


def _openssl(*args, cwd):
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stderr}")


def _make_ca(directory, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", _DAYS,
             "-subj", f"/CN=ternserve test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)


def _make_leaf(directory, name, ca, common_name, extensions):
    (directory / f"{name}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n" + extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}",
             cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", _DAYS, "-extfile", f"{name}.ext",
             cwd=directory)


def make_test_pki(directory):
    """Paths (str) of ca, server_cert, server_key, client_cert, client_key, other_ca,
    other_client_cert, other_client_key."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _make_ca(directory, "ca")
    _make_ca(directory, "other_ca")
    _make_leaf(directory, "server", "ca", "localhost",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _make_leaf(directory, "client", "ca", "ternserve test client",
               "extendedKeyUsage=clientAuth\n")
    _make_leaf(directory, "other_client", "other_ca", "ternserve test intruder",
               "extendedKeyUsage=clientAuth\n")
    path = lambda name: str(directory / name)  # noqa: E731
    return types.SimpleNamespace(
        ca=path("ca.pem"), server_cert=path("server.pem"), server_key=path("server.key"),
        client_cert=path("client.pem"), client_key=path("client.key"),
        other_ca=path("other_ca.pem"), other_client_cert=path("other_client.pem"),
        other_client_key=path("other_client.key"))
