#!/usr/bin/python3
"""Classifies PNG files on a Ternserve server through the Open Inference Protocol.

Each PNG is converted to grayscale and, if it is not 28x28, resized to it; the files go in
requests of at most the model's max_batch_size images, each request with the --slo_ms SLO.
Exit status: 0 when every file was classified, 1 when the server refused a request (the gRPC
status is printed), 2 for bad flags or an unreadable file.

  classify_png.py --server 127.0.0.1:8001 --slo_ms 50 --top_k 3 shirt.png boot.png
  classify_png.py --server localhost:8001 --tls_ca ca.pem --auth_token_file token shirt.png
"""

import argparse
import pathlib
import sys

import grpc
import numpy as np
from PIL import Image

try:
    import ternserve_client
except ImportError:  # Run from a checkout: the package is next to examples/.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    import ternserve_client


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Classify PNG files (converted to 28x28 grayscale) on a Ternserve server "
                    "through the Open Inference Protocol, with a latency SLO, and print the top "
                    "classes of each.",
        epilog="TLS is on when --tls_ca is given. Exit status: 0 all classified, 1 the server "
               "refused a request (its gRPC status is printed), 2 bad flags or an unreadable "
               "file. Needs the generated stubs: run '/usr/bin/python3 -m "
               "ternserve_client.generate_stubs' in client/python, or install the package (see "
               "client/python/README.md).")
    parser.add_argument("png", nargs="+", help="PNG files to classify")
    parser.add_argument("--server", default="127.0.0.1:8001", metavar="HOST:PORT",
                        help="server address, host:port (default: %(default)s)")
    parser.add_argument("--slo_ms", type=float, default=0, metavar="MS",
                        help="latency SLO of each request (queue + compute) in ms; 0 = the "
                             "server's --default_slo_ms (default: %(default)s)")
    parser.add_argument("--top_k", type=int, default=3, metavar="K",
                        help="how many classes to print per image, 1..10 (default: %(default)s)")
    parser.add_argument("--tls_ca", metavar="PEM",
                        help="PEM root certificates that verify the server; turns TLS on")
    parser.add_argument("--tls_cert", metavar="PEM",
                        help="PEM client certificate, for a server that requires mutual TLS "
                             "(with --tls_key and --tls_ca)")
    parser.add_argument("--tls_key", metavar="PEM", help="PEM private key of --tls_cert")
    parser.add_argument("--auth_token_file", metavar="FILE",
                        help="file whose first line that is not blank or '#' is the bearer token "
                             "(sent as 'authorization: Bearer <token>', never printed)")
    parser.add_argument("--timeout_s", type=float, default=10, metavar="S",
                        help="gRPC deadline of each call in seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 1 <= args.top_k <= 10:
        parser.error(f"--top_k={args.top_k}: want 1..10")
    if args.slo_ms < 0:
        parser.error(f"--slo_ms={args.slo_ms}: want >= 0")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls_cert and --tls_key go together")
    if args.tls_cert and not args.tls_ca:
        parser.error("--tls_cert needs --tls_ca")
    return args


def load_png(path):
    """The PNG as a uint8 [28,28] grayscale array."""
    with Image.open(path) as image:
        gray = image.convert("L")
        if gray.size != (28, 28):
            gray = gray.resize((28, 28), Image.Resampling.BILINEAR)
        return np.asarray(gray, dtype=np.uint8)


def describe(path, result):
    classes = ", ".join(f"{c.label} {100 * c.score:.1f}%" for c in result.top_k)
    met = "deadline met" if result.deadline_met else "deadline MISSED"
    return (f"{path}: {classes}  (sub-net {result.subnet_id}, expected accuracy "
            f"{result.expected_accuracy:.4f}, {met})")


def main(argv=None):
    args = parse_args(argv)
    try:
        images = [load_png(p) for p in args.png]
    except OSError as e:
        print(f"classify_png.py: {e}", file=sys.stderr)
        return 2
    try:
        with ternserve_client.InferenceClient(
                args.server, tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
                auth_token_file=args.auth_token_file, rpc_timeout_s=args.timeout_s) as client:
            per_request = client.max_batch_size()
            for first in range(0, len(images), per_request):
                batch = np.stack(images[first:first + per_request])
                results = client.classify(batch, slo_ms=args.slo_ms, top_k=args.top_k)
                for path, result in zip(args.png[first:], results):
                    print(describe(path, result))
    except (OSError, ValueError, ImportError) as e:
        print(f"classify_png.py: {e}", file=sys.stderr)
        return 2
    except grpc.RpcError as e:
        print(f"classify_png.py: RPC failed: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
