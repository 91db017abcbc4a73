#!/usr/bin/env python3
"""An HTTPS endpoint for the art 19 webhook tests: it keeps every POST it gets.

Prints `listening on 127.0.0.1:PORT` once it serves, then appends one JSON object per request to
OUTPUT: the path, the headers that matter (X-Privacy-Signature, X-Privacy-Notice-Id,
Content-Type) and the body as received.

  webhook_sink.py OUTPUT CERT KEY [--fail-first N]

Answers 404 on any path ending in /gone, 503 to the first N other requests (--fail-first), and
204 after that.
"""
import argparse
import http.server
import json
import ssl
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("cert")
    parser.add_argument("key")
    parser.add_argument("--fail-first", type=int, default=0)
    arguments = parser.parse_args()
    failures = [arguments.fail_first]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8", "replace")
            record = {
                "path": self.path,
                "signature": self.headers.get("X-Privacy-Signature"),
                "notice_id": self.headers.get("X-Privacy-Notice-Id"),
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            }
            with open(arguments.output, "a") as out:
                out.write(json.dumps(record) + "\n")
            if self.path.endswith("/gone"):
                status = 404
            elif failures[0] > 0:
                failures[0] -= 1
                status = 503
            else:
                status = 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(arguments.cert, arguments.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
