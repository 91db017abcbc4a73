"""Python stubs generated at run time from Protocol/, and every RPC they describe.

Only Protocol/privacy/** is generated: a generated `grpc/` package would shadow grpcio (see
RECIPES.md); health comes from grpcio-health-checking. Endpoints are read from the service
descriptors, so a new RPC or service in a .proto is attacked without editing the suite.
"""
from __future__ import annotations

import dataclasses
import glob
import importlib
import os
import subprocess
import sys

from google.protobuf import message_factory

import wire

# Which executable serves the services of each proto package. The gateway serves its own package
# and re-serves every other one.
SERVER_OF_PACKAGE = {
    "privacy.consent.v1": "consent-service",
    "privacy.vault.v1": "vault-service",
    "privacy.rights.v1": "subject-rights-service",
    "privacy.blocklist.v1": "blocklist-service",
    "privacy.gateway.v1": "gateway",
}


@dataclasses.dataclass(frozen=True)
class Method:
    """One RPC: `/package.Service/Method`, its request type and whether the server streams."""
    path: str
    service: str
    name: str
    input_type: type
    output_type: type
    server_streaming: bool
    client_streaming: bool
    package: str

    @property
    def full_name(self) -> str:
        return self.path[1:]


class Protocol:
    """Generated modules and the methods of every service in them."""

    def __init__(self, protocol_dir: str, out_dir: str):
        self.protocol_dir = os.path.abspath(protocol_dir)
        self.out_dir = out_dir
        self.modules = self._generate()
        self.methods = self._methods()

    def _generate(self) -> list:
        import grpc_tools
        include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        files = sorted(os.path.relpath(path, self.protocol_dir)
                       for path in glob.glob(os.path.join(self.protocol_dir, "privacy", "**", "*.proto"), recursive=True))
        subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I", self.protocol_dir, "-I", include,
                               f"--python_out={self.out_dir}", f"--grpc_python_out={self.out_dir}", *files])
        if self.out_dir not in sys.path:
            sys.path.insert(0, self.out_dir)
        return [importlib.import_module(path[:-len(".proto")].replace("/", ".") + "_pb2") for path in files]

    def _methods(self) -> list[Method]:
        methods = []
        for module in self.modules:
            for service in module.DESCRIPTOR.services_by_name.values():
                for method in service.methods:
                    methods.append(Method(
                        path=f"/{service.full_name}/{method.name}", service=service.full_name, name=method.name,
                        input_type=message_factory.GetMessageClass(method.input_type),
                        output_type=message_factory.GetMessageClass(method.output_type),
                        server_streaming=method.server_streaming, client_streaming=method.client_streaming,
                        package=service.file.package))
        return methods

    def method(self, path: str) -> Method:
        for method in self.methods + health_methods():
            if method.path == path:
                return method
        raise KeyError(path)

    def module(self, package: str, name: str):
        """The generated module of `privacy/<package>/v1/<name>.proto`, e.g. ("consent", "consent")."""
        return importlib.import_module(f"privacy.{package}.v1.{name}_pb2")

    def grpc_module(self, package: str, name: str):
        return importlib.import_module(f"privacy.{package}.v1.{name}_pb2_grpc")

    def served_by(self, server: str) -> list[Method]:
        """Methods `server` serves: its own package's, plus every backend's for the gateway."""
        if server == "gateway":
            return [method for method in self.methods if method.package in SERVER_OF_PACKAGE]
        return [method for method in self.methods if SERVER_OF_PACKAGE.get(method.package) == server]


def health_methods() -> list[Method]:
    from grpc_health.v1 import health_pb2
    service = health_pb2.DESCRIPTOR.services_by_name["Health"]
    return [Method(path=f"/{service.full_name}/{m.name}", service=service.full_name, name=m.name,
                   input_type=message_factory.GetMessageClass(m.input_type),
                   output_type=message_factory.GetMessageClass(m.output_type), server_streaming=m.server_streaming,
                   client_streaming=m.client_streaming, package="grpc.health.v1")
            for m in service.methods if f"/{service.full_name}/{m.name}" in (wire.HEALTH_CHECK, wire.HEALTH_WATCH)]
