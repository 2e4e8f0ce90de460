"""Generates the Python gRPC stubs of Ternserve's protos for ternserve_client (see stubs.py).

    /usr/bin/python3 -m ternserve_client.generate_stubs [--out DIR] [--proto_root DIR]
"""

import argparse
import sys

from ternserve_client import stubs


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m ternserve_client.generate_stubs",
        description="Generate the Python gRPC stubs of Ternserve's protos (system protoc and "
                    "grpc_python_plugin).")
    parser.add_argument("--out", default=str(stubs.PACKAGE_STUBS_DIR),
                        help="output directory (default: %(default)s)")
    parser.add_argument("--proto_root", default=str(stubs.CHECKOUT_PROTO_ROOT),
                        help="the repository's proto/ directory (default: %(default)s)")
    parser.add_argument("--protoc", default="protoc", help="protoc binary (default: %(default)s)")
    parser.add_argument("--plugin", default=stubs.DEFAULT_PLUGIN,
                        help="grpc_python_plugin binary (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        out = stubs.generate(args.out, args.proto_root, args.protoc, args.plugin)
    except RuntimeError as e:
        print(f"ternserve_client.generate_stubs: {e}", file=sys.stderr)
        return 1
    print(f"wrote the stubs of {', '.join(stubs.PROTOS)} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
