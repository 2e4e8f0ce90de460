"""A gRPC channel to a Ternserve server: plaintext, TLS or mutual TLS, and its bearer token.

The same options as ternserve-cli's channel flags (client/channel_flags.h): tls_ca turns TLS on,
tls_cert/tls_key add a client certificate, auth_token_file gives the token.
"""

import grpc


def read_token(path):
    """The token in `path`: its first line that is not blank or a '#' comment, stripped.

    Raises ValueError (naming the file, never the token) when there is none.
    """
    with open(path, encoding="utf-8") as f:
        for line in f:
            token = line.strip()
            if token and not token.startswith("#"):
                return token
    raise ValueError(f"{path} holds no token (every line is blank or a '#' comment)")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def make_channel(target, tls_ca=None, tls_cert=None, tls_key=None, tls_server_name=None,
                 options=()):
    """A channel to target ("host:port"). TLS when tls_ca (PEM roots that verify the server) is set.

    tls_cert and tls_key (PEM) go together, and need tls_ca. tls_server_name is the name to check
    in the server's certificate instead of target's host. Raises ValueError for a bad combination,
    OSError for an unreadable file.
    """
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("tls_cert and tls_key go together")
    if (tls_cert or tls_server_name) and not tls_ca:
        raise ValueError("tls_cert, tls_key and tls_server_name need tls_ca (TLS is off "
                         "without it)")
    options = list(options)
    if not tls_ca:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(tls_ca),
        private_key=_read(tls_key) if tls_key else None,
        certificate_chain=_read(tls_cert) if tls_cert else None)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    return grpc.secure_channel(target, credentials, options=options)
