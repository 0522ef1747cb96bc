"""A loopback HTTP server that keeps the JSON bodies POSTed to it: the receiving end of a webhook
(ours, or Alertmanager's) in the alert tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookSink:
    def __init__(self, host: str = "127.0.0.1", advertise: str | None = None) -> None:
        """Listens on `host` (0.0.0.0: for pods too); `url` names `advertise` (an address the
        sender reaches this machine at), else `host`."""
        self.bodies: list = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                sink.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{advertise or host}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int = 1, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.bodies

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
