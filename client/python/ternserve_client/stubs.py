"""The generated gRPC stubs of the Open Inference Protocol, made from the repository's protos.

Stubs are never committed: `generate` runs the system protoc with Debian's grpc_python_plugin, at
install time (setup.py) or from a checkout (`python3 -m ternserve_client.generate_stubs`), and
`load` imports them. protoc names the modules after the proto paths
(`inference.grpc_service_pb2`, ...), so the directory that holds them goes on sys.path.

Usage from a checkout:
    /usr/bin/python3 -m ternserve_client.generate_stubs            # ternserve_client/_proto/
    /usr/bin/python3 -m ternserve_client.generate_stubs --out DIR  # TERNSERVE_CLIENT_STUBS=DIR
"""

import importlib
import os
import pathlib
import subprocess
import sys
import types

# The protos the client needs, relative to the proto root. model_config.proto is imported by
# grpc_service.proto; classifier.proto is Ternserve's own API.
PROTOS = (
    "inference/grpc_service.proto",
    "inference/model_config.proto",
    "ternserve/v1/classifier.proto",
)
STUBS_ENV = "TERNSERVE_CLIENT_STUBS"
DEFAULT_PLUGIN = "/usr/bin/grpc_python_plugin"
PACKAGE_STUBS_DIR = pathlib.Path(__file__).resolve().parent / "_proto"
# client/python/ternserve_client/ -> the repository's proto/.
CHECKOUT_PROTO_ROOT = pathlib.Path(__file__).resolve().parents[3] / "proto"


def generate(out_dir, proto_root=None, protoc="protoc", plugin=DEFAULT_PLUGIN):
    """Runs protoc over PROTOS into out_dir (created). Raises RuntimeError with protoc's stderr."""
    proto_root = pathlib.Path(proto_root or CHECKOUT_PROTO_ROOT)
    out_dir = pathlib.Path(out_dir)
    missing = [p for p in PROTOS if not (proto_root / p).is_file()]
    if missing:
        raise RuntimeError(f"{proto_root} lacks {', '.join(missing)}: pass the repository's proto/")
    if not os.access(plugin, os.X_OK):
        raise RuntimeError(f"{plugin} is missing: apt-get install protobuf-compiler-grpc")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [protoc, f"-I{proto_root}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
               f"--plugin=protoc-gen-grpc_python={plugin}", *PROTOS]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise RuntimeError(f"{protoc} is missing: apt-get install protobuf-compiler") from e
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return out_dir


def _stubs_dir(stubs_dir):
    for candidate in (stubs_dir, os.environ.get(STUBS_ENV), PACKAGE_STUBS_DIR):
        if candidate and (pathlib.Path(candidate) / "inference" / "grpc_service_pb2.py").is_file():
            return pathlib.Path(candidate).resolve()
    raise ImportError(
        f"ternserve_client: no generated stubs (looked in {stubs_dir or '-'}, "
        f"${STUBS_ENV}={os.environ.get(STUBS_ENV, '')!r}, {PACKAGE_STUBS_DIR}). Run "
        "'/usr/bin/python3 -m ternserve_client.generate_stubs' in client/python, or install the "
        "package.")


def load(stubs_dir=None):
    """The stub modules, as a namespace: grpc_service_pb2, grpc_service_pb2_grpc, model_config_pb2,
    classifier_pb2, classifier_pb2_grpc.

    Looks in stubs_dir, then $TERNSERVE_CLIENT_STUBS, then the package's _proto/. Python imports a
    module once, so the first directory loaded is the one every later call gets.
    """
    directory = str(_stubs_dir(stubs_dir))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return types.SimpleNamespace(
        grpc_service_pb2=importlib.import_module("inference.grpc_service_pb2"),
        grpc_service_pb2_grpc=importlib.import_module("inference.grpc_service_pb2_grpc"),
        model_config_pb2=importlib.import_module("inference.model_config_pb2"),
        classifier_pb2=importlib.import_module("ternserve.v1.classifier_pb2"),
        classifier_pb2_grpc=importlib.import_module("ternserve.v1.classifier_pb2_grpc"),
    )
