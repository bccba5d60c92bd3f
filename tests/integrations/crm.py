"""A test CRM: an HTTP server on 127.0.0.1 that records webhook calls and responds with planned statuses."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support import free_port


class Receiver:
    """A CRM endpoint: records every request and responds with the next planned status, else 200."""

    def __init__(self):
        self.requests = []
        self.planned_statuses = []
        self.always_fail = False
        self.long_response = False
        # Seconds to wait before responding, to make the caller time out.
        self.delay = 0
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

            def log_message(self, format, *args):
                pass

        return Handler
