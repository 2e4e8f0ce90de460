"""Builds ternserve_client with its gRPC stubs generated from the repository's protos.

The stubs are not in the source tree: build_py runs the system protoc and grpc_python_plugin
(Debian's protobuf-compiler and protobuf-compiler-grpc) over ../../proto into the built package's
_proto/ directory. Metadata is in pyproject.toml.
"""

import importlib.util
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent


def _stubs_module():
    # By path: importing the package would import grpc and numpy, which building does not need.
    spec = importlib.util.spec_from_file_location("_ternserve_stubs",
                                                  HERE / "ternserve_client" / "stubs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        _stubs_module().generate(pathlib.Path(self.build_lib) / "ternserve_client" / "_proto",
                                 proto_root=HERE.parents[1] / "proto")


setup(cmdclass={"build_py": BuildPyWithStubs})
