"""A test CRM: an HTTP server on 127.0.0.1 that records webhook calls and responds with planned statuses."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support import free_port

TRICKLE_SECONDS = 0.1


class Receiver:
    """A CRM endpoint: records every request and responds with the next planned status, else 200."""

    def __init__(self):
        self.requests = []
        self.planned_statuses = []
        self.always_fail = False
        self.long_response = False
        # Seconds to wait before responding, to make the caller time out.
        self.delay = 0
        # "headers" or "body": send that part one line or byte every TRICKLE_SECONDS, as a slow
        # receiver does that never lets a single socket read time out.
        self.trickle = ""
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/mailup/webhook/subscribe"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._record(b"")

            def do_POST(self):
                self._record(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _record(self, body):
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.trickle:
                    receiver.requests.append({"method": self.command, "path": self.path, "body": body})
                    self._trickle()
                    return
                status = 500 if receiver.always_fail else 200
                if receiver.planned_statuses:
                    status = receiver.planned_statuses.pop(0)
                receiver.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "status": status,
                    }
                )
                answer = b"1" if status == 200 else b"server error"
                if receiver.long_response:
                    answer = "è".encode("utf-8") * 3000
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _trickle(self):
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    if receiver.trickle == "body":
                        self.wfile.write(b"Content-Length: 100000\r\n\r\n")
                    for _ in range(int(30 / TRICKLE_SECONDS)):
                        self.wfile.write(b"X-Slow: 1\r\n" if receiver.trickle == "headers" else b"x")
                        self.wfile.flush()
                        time.sleep(TRICKLE_SECONDS)
                except OSError:
                    # The caller gave up and closed the connection.
                    pass

            def log_message(self, format, *args):
                pass

        return Handler
