"""A loopback HTTP server answering from a script, for the clients' tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Scripted:
    """A loopback HTTP server answering from a script: what a proxy in front of Graph or Google
    may say (``answers`` are popped in order; ``paths`` and POST ``bodies`` are recorded)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, bytes]] = []
        self.paths: list[str] = []
        self.bodies: list[str] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                scripted.bodies.append(self.rfile.read(length).decode())
                self.do_GET()

            def do_GET(self) -> None:
                scripted.paths.append(self.path)
                status, reason, body = scripted.answers.pop(0)
                self.send_response(status, reason)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
