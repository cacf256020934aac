"""Small loopback servers for the review tests: a desk or an API that drips its answer, one
that answers a fixed body to every request, and raw socket servers that write their bytes as
they are, with no HTTP library in the way to tidy them."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List


class Loopback:
    """A threaded HTTP server on 127.0.0.1; ``answer(handler)`` writes the whole answer."""

    def __init__(self) -> None:
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.answer(self)

            do_GET = do_POST = do_PUT = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Dripping(Loopback):
    """Announces a large body, then sends one byte every half second: no read timeout ever
    trips, so only a deadline of the program's own can end the exchange."""

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        while not self.release.is_set():
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:
                return
            self.release.wait(0.5)


class Fixed(Loopback):
    """Answers the same status and JSON body to every request."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)


class RawServer:
    """Listens on one address, records the first bytes of every connection and answers them
    with ``reply()`` (the ``answer`` bytes; none: the connection is just closed)."""

    def __init__(self, host: str = "127.0.0.1", family: int = socket.AF_INET,
                 answer: bytes = b"") -> None:
        self.answer = answer
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.received: List[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def reply(self) -> bytes:
        return self.answer

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(3)
            try:
                self.received.append(conn.recv(65536))
                answer = self.reply()
                if answer:
                    conn.sendall(answer)
            except OSError:
                self.received.append(b"")
            conn.close()

    def close(self) -> None:
        self.sock.close()
