"""TEST DOUBLE: stand-in HTTP backends for the Traefik tier (tests/cluster/test_traefik_real.py).

Not Keycloak, not the Task API, not Prometheus: each listener only answers every request with
JSON naming the double it stands in for and what reached it (method, path, Host, whether an
Authorization header got through), so a test can see which backend Traefik routed to and what
the middlewares passed on. Run inside the test network namespace:

    python http_double.py NAME=ADDRESS:PORT [NAME=ADDRESS:PORT ...]

prints one line "ready" once every listener is bound, then serves until terminated.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler_for(name: str):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            body = json.dumps(
                {
                    "double": name,
                    "method": self.command,
                    "path": self.path,
                    "host": self.headers.get("Host"),
                    "authorization": self.headers.get("Authorization"),
                    "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format, *args):
            sys.stderr.write(f"{name}: {format % args}\n")

    return Handler


def main(argv: list[str]) -> None:
    servers = []
    for spec in argv:
        name, _unused, where = spec.partition("=")
        address, _unused, port = where.rpartition(":")
        servers.append(ThreadingHTTPServer((address, int(port)), handler_for(name)))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
