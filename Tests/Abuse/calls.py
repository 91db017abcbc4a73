"""A described gRPC call: which server, method, credential, headers and exact body bytes.

The same description is what the fuzzer sends, what a regression case stores (with the
credential as a role name, never a secret of the run) and what a replay sends again.
"""
from __future__ import annotations

import base64
import dataclasses

import cluster as cluster_module
import h2client
import wire


@dataclasses.dataclass
class CallSpec:
    server: str                    # the executable the call is sent to
    path: str                      # /package.Service/Method
    body: bytes | h2client.Body = b""   # the whole DATA payload, gRPC framing included
    credential: str = "internal"   # "internal" (backend token and identity), "role:<role>" (API key), "none"
    timeout: str | None = None     # grpc-timeout, sent as is
    headers: list = dataclasses.field(default_factory=list)   # extra (name, value) pairs
    end_stream: bool = True
    note: str = ""                 # how the input was made (mutation, framing)
    kind: str = ""                 # the input's class for grouping violations (e.g. the framing)
    request_id: str = ""           # x-request-id sent to a backend (chains record it)

    def metadata(self, cluster) -> list[tuple[str, str]]:
        if self.credential == "internal":
            base = cluster.metadata(request_id=self.request_id)
        elif self.credential.startswith("role:"):
            base = cluster.gateway_metadata(self.credential[5:])
        else:
            base = []
        return base + [tuple(pair) for pair in self.headers]

    def send(self, cluster, wait: float = 10.0) -> h2client.Outcome:
        host, port = cluster.address(self.server)
        return h2client.call(host, port, self.path, self.body, self.metadata(cluster), self.timeout, wait=wait,
                             end_stream=self.end_stream)

    def start_on(self, connection: h2client.Connection, cluster, on_done, tag=None) -> tuple[int, h2client.Outcome]:
        headers = wire.request_headers(connection.authority, self.path, self.metadata(cluster), self.timeout)
        return connection.start(self.path, headers, self.body, end_stream=self.end_stream, on_done=on_done, tag=tag)

    def to_json(self) -> dict:
        data = {"server": self.server, "path": self.path, "credential": self.credential,
                "body_b64": base64.b64encode(self.body).decode(), "body_bytes": len(self.body)}
        if self.timeout is not None:
            data["grpc_timeout"] = self.timeout
        if self.headers:
            data["headers"] = [list(pair) for pair in self.headers]
        if not self.end_stream:
            data["end_stream"] = False
        if self.note:
            data["input"] = self.note
        if self.kind:
            data["input_kind"] = self.kind
        return data

    @classmethod
    def from_json(cls, data: dict) -> "CallSpec":
        return cls(server=data["server"], path=data["path"], body=base64.b64decode(data.get("body_b64", "")),
                   credential=data.get("credential", "internal"), timeout=data.get("grpc_timeout"),
                   headers=[tuple(pair) for pair in data.get("headers", [])], end_stream=data.get("end_stream", True),
                   note=data.get("input", ""), kind=data.get("input_kind", ""))

    def brief(self, limit: int = 120) -> str:
        """A one-line description of the input for reports."""
        parts = [f"{self.path} on {self.server}", f"credential {self.credential}"]
        if self.timeout is not None:
            parts.append(f"grpc-timeout {self.timeout!r}")
        if self.headers:
            parts.append(f"{len(self.headers)} extra header(s)")
        body = self.body.hex()
        parts.append(f"body {len(self.body)} bytes" + (f" 0x{body}" if len(body) <= limit else f" 0x{body[:limit]}..."))
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)


def credential_for(server: str, role: str = "dpo") -> str:
    return f"role:{role}" if server == cluster_module.GATEWAY else "internal"
