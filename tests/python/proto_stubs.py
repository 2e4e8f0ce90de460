"""Python stubs of the project's protos, generated for a test by the system protoc and Debian's
grpc_python_plugin, and imported.

grpc/health/v1/health.proto is generated from its own directory: under its package path its
module would be grpc.health.v1, inside grpcio's own `grpc` package.
"""

import importlib
import pathlib
import subprocess
import sys
import types

PLUGIN = "/usr/bin/grpc_python_plugin"
PROTOS = ("inference/grpc_service.proto", "inference/model_config.proto",
          "ternserve/v1/classifier.proto")


def _protoc(include_dir, out_dir, protos):
    command = ["protoc", f"-I{include_dir}", f"--python_out={out_dir}",
               f"--grpc_python_out={out_dir}", f"--plugin=protoc-gen-grpc_python={PLUGIN}",
               *protos]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")


def generate_and_import(source_dir, out_dir):
    """Generates the stubs into out_dir, puts it first on sys.path and returns the modules."""
    proto_dir = pathlib.Path(source_dir) / "proto"
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _protoc(proto_dir, out_dir, PROTOS)
    _protoc(proto_dir / "grpc" / "health" / "v1", out_dir, ["health.proto"])
    sys.path.insert(0, str(out_dir))
    return types.SimpleNamespace(**{
        name.rpartition(".")[2]: importlib.import_module(name)
        for name in ("inference.grpc_service_pb2", "inference.grpc_service_pb2_grpc",
                     "inference.model_config_pb2", "ternserve.v1.classifier_pb2",
                     "ternserve.v1.classifier_pb2_grpc", "health_pb2", "health_pb2_grpc")})
