"""A gRPC channel to a Ternserve server: plaintext, TLS or mutual TLS, and its bearer token.

The same options as ternserve-cli's channel flags (client/channel_flags.h): tls_ca turns TLS on,
tls_cert/tls_key add a client certificate, auth_token_file gives the token.

The target takes the forms of ternserve-cli's --server (client/server_target.h): "host:port"; a
list of replicas as IP addresses, "10.0.0.1:8001,10.0.0.2:8001"; "dns:///name:port"; or any gRPC
target URI. Calls go round-robin over the replicas that are serving (client-side health checking
with several), and a call answered UNAVAILABLE (a replica draining, or gone) is retried on
another, up to max_attempts in all.
"""

import ipaddress
import json

import grpc

MAX_ATTEMPTS = 5  # gRPC caps a retry policy's maxAttempts at 5
_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")


def resolve_target(spec):
    """(gRPC target, replicated) for a target as above; replicated when calls may go to more than
    one server. Raises ValueError, quoting spec, for one that cannot be a target."""
    def bad(why):
        return ValueError(f"server target '{spec}': {why}")

    if not spec.strip():
        raise bad("empty")
    head, _, rest = spec.partition(":")
    if spec.startswith(_SCHEMES) or rest.startswith("//"):
        if spec.startswith(("ipv4:", "ipv6:")):
            return spec, spec.count(",") > 0
        return spec, not spec.startswith("unix")
    if "," not in spec:
        return spec.strip(), False
    entries, families = [], set()
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            raise bad("an empty entry in the list")
        host, colon, port = entry.rpartition(":")
        if not colon or not port:
            raise bad(f"'{entry}' has no port")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise bad(f"'{entry}': the port must be a number in [1, 65535]")
        try:
            address = ipaddress.ip_address(host[1:-1] if host.startswith("[") and
                                           host.endswith("]") else host)
        except ValueError:
            raise bad(f"'{entry}' is not an IP address and port (a list takes IP literals, "
                      '"10.0.0.1:8001" or "[::1]:8001"; for a name use "dns:///name:port")') \
                from None
        if address.version == 6 and not host.startswith("["):
            raise bad(f"'{entry}': an IPv6 address goes in brackets, [addr]:port")
        families.add(address.version)
        entries.append(entry)
    if len(families) > 1:
        raise bad("IPv4 and IPv6 addresses in one list (gRPC takes one family)")
    return ("ipv4:" if families == {4} else "ipv6:") + ",".join(entries), True


def service_config(max_attempts, health_check):
    """The service config of client/server_target.h: round_robin; with health_check, client-side
    health checking; for max_attempts >= 2 a retry policy for UNAVAILABLE on both APIs."""
    config = {"loadBalancingConfig": [{"round_robin": {}}]}
    if health_check:
        config["healthCheckConfig"] = {"serviceName": ""}
    if max_attempts >= 2:
        config["methodConfig"] = [{
            "name": [{"service": "ternserve.v1.Classifier"},
                     {"service": "inference.GRPCInferenceService"}],
            "retryPolicy": {"maxAttempts": max_attempts, "initialBackoff": "0.005s",
                            "maxBackoff": "0.05s", "backoffMultiplier": 2,
                            "retryableStatusCodes": ["UNAVAILABLE"]}}]
    return json.dumps(config)


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
                 options=(), max_attempts=3):
    """A channel to target (see above). TLS when tls_ca (PEM roots that verify the server) is set.

    tls_cert and tls_key (PEM) go together, and need tls_ca. tls_server_name is the name to check
    in the server's certificate instead of target's host. max_attempts in [1, 5]: attempts of one
    call (1: no retries). Raises ValueError for a bad target or combination, OSError for an
    unreadable file.
    """
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise ValueError(f"max_attempts must be in [1, {MAX_ATTEMPTS}]")
    target, replicated = resolve_target(target)
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("tls_cert and tls_key go together")
    if (tls_cert or tls_server_name) and not tls_ca:
        raise ValueError("tls_cert, tls_key and tls_server_name need tls_ca (TLS is off "
                         "without it)")
    options = [("grpc.service_config", service_config(max_attempts, replicated)),
               *(() if max_attempts >= 2 else (("grpc.enable_retries", 0),)), *options]
    if not tls_ca:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(tls_ca),
        private_key=_read(tls_key) if tls_key else None,
        certificate_chain=_read(tls_cert) if tls_cert else None)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    return grpc.secure_channel(target, credentials, options=options)
