"""A hostile IASO for tests, on loopback only: one raw-socket server, one behaviour per path.

A probe pointed at ``http://127.0.0.1:<port>/b/<behaviour>/api/v1`` meets that behaviour on
every endpoint; the correct answers it mangles come from the simulator's contract. TLS
behaviours have listeners of their own (self-signed, expired, wrong host, weak key, and a good
certificate for redirects to plain http).
"""
from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional
from urllib.parse import parse_qsl

from certificates import Authority
from hostile_wire import read_request

from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import ROUTES, Simulator

Handler = Callable[["Exchange"], None]


class Exchange(NamedTuple):
    """One request as the hostile server read it, and the answer the contract would give."""

    conn: socket.socket
    method: str
    path: str
    role: Optional[str]
    status: int
    document: Any
    server: HostileServer

    def send(self, status: int, body: bytes, headers: Optional[Dict[str, str]] = None,
             reason: str = "OK") -> None:
        head = [f"HTTP/1.1 {status} {reason}"]
        fields = {"Content-Type": "application/json", "Content-Length": str(len(body)),
                  "Connection": "close"}
        fields.update(headers or {})
        head += [f"{k}: {v}" for k, v in fields.items() if v is not None]
        self.conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def good(self) -> bytes:
        return json.dumps(self.document).encode()


class Behaviour(NamedTuple):
    handle: Handler
    listener: str = "plain"
    expected: Dict[str, int] = {}   # probe → state where not CRITICAL


PROBES = ("life", "health", "response_time", "auth", "backup", "restore")
API_ONLY_OK = {"life": 0, "health": 0, "response_time": 0, "auth": 0}


def _wait(ex: Exchange, seconds: float = 60) -> None:
    ex.server.stopping.wait(seconds)


def _drip(ex: Exchange) -> None:
    body = ex.good()
    ex.conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode())
    for byte in body:
        if ex.server.stopping.wait(1.0):
            return
        ex.conn.sendall(bytes([byte]))


def _slow_headers(ex: Exchange) -> None:
    for char in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
        if ex.server.stopping.wait(0.5):
            return
        ex.conn.sendall(bytes([char]))


def _chunked_cut(ex: Exchange) -> None:
    body = ex.good()
    ex.conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}\r\n".encode()
                    + body[: len(body) // 2])


def _reset(ex: Exchange) -> None:
    ex.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def _huge(ex: Exchange) -> None:
    size = 50 * 1024 * 1024
    ex.conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {size}\r\n\r\n".encode())
    chunk = b" " * 65536
    try:
        for _ in range(size // len(chunk)):
            ex.conn.sendall(chunk)
    except OSError:
        pass


def _huge_chunked(ex: Exchange) -> None:
    ex.conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * 65536
    try:
        for _ in range(800):
            ex.conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    except OSError:
        pass


GZIP_BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)


def _job_mangle(change: Callable[[Dict[str, Any], Exchange], Dict[str, Any]]) -> Handler:
    def handle(ex: Exchange) -> None:
        document = ex.document
        if ex.role == "job_status" and isinstance(document, dict) and ex.status == 200:
            document = change(dict(document), ex)
        ex.send(ex.status, json.dumps(document).encode())
    return handle


def _backwards(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
    polls = ex.server.count(("backwards", document["jobId"]))
    document.update(status="Running", percentComplete=max(0, 60 - 20 * polls))
    return document


def _forever(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
    document.update(status="Running", percentComplete=10 + ex.server.count("forever") % 80)
    return document


def _health_mangle(change: Callable[[Dict[str, Any]], Dict[str, Any]]) -> Handler:
    def handle(ex: Exchange) -> None:
        document = ex.document
        if ex.role == "health":
            document = change(dict(document))
        ex.send(ex.status, json.dumps(document).encode())
    return handle


def _unknown_states(document: Dict[str, Any]) -> Dict[str, Any]:
    document["components"] = [dict(c, status="degraded") if c["name"] == "vcenter" else c
                              for c in document["components"]]
    return document


def _injection(ex: Exchange) -> None:
    message = "fail | pipe\r\nX-Injected: yes\r\n\r\nIASO LIFE OK - fake line"
    ex.send(500, json.dumps({"statusCode": 500, "message": message}).encode())


def _duplicated(document: Any) -> bytes:
    """The document with its first key given twice, the bogus value first."""
    text = json.dumps(document)
    if not isinstance(document, dict) or not document:
        return text.encode()
    first = next(iter(document))
    return ("{" + json.dumps(first) + ': "bogus", ' + text[1:]).encode()


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


BEHAVIOURS: Dict[str, Behaviour] = {
    "refuse": Behaviour(lambda ex: None, listener="closed"),
    "accept-then-close": Behaviour(lambda ex: None),
    "never-answer": Behaviour(_wait),
    "headers-then-stall": Behaviour(lambda ex: (ex.conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), _wait(ex))),
    "drip-one-byte-a-second": Behaviour(_drip),
    "slow-status-line": Behaviour(_slow_headers),
    "reset": Behaviour(_reset),
    "tls-self-signed": Behaviour(lambda ex: ex.send(ex.status, ex.good()), listener="self"),
    "tls-expired": Behaviour(lambda ex: ex.send(ex.status, ex.good()), listener="expired"),
    "tls-wrong-host": Behaviour(lambda ex: ex.send(ex.status, ex.good()), listener="wronghost"),
    "tls-weak-key": Behaviour(lambda ex: ex.send(ex.status, ex.good()), listener="weak"),
    "http-on-https-url": Behaviour(lambda ex: ex.send(ex.status, ex.good()),
                                   listener="plain-as-https"),
    "redirect-loop": Behaviour(lambda ex: ex.send(302, b"", {"Location": ex.path})),
    "redirect-other-host": Behaviour(lambda ex: ex.send(
        302, b"", {"Location": "http://127.0.0.2:9" + ex.path})),
    "redirect-to-plain-http": Behaviour(lambda ex: ex.send(
        302, b"", {"Location": f"http://127.0.0.1:{ex.server.ports['plain']}{ex.path}"}),
        listener="good"),
    "status-204": Behaviour(lambda ex: ex.send(204, b"", {"Content-Length": None}, "No Content")),
    "status-304": Behaviour(lambda ex: ex.send(304, b"", {"Content-Length": None},
                                               "Not Modified")),
    "empty-200": Behaviour(lambda ex: ex.send(200, b"")),
    "html-200": Behaviour(lambda ex: ex.send(200, b"<html><body>Welcome</body></html>",
                                             {"Content-Type": "text/html"})),
    "xml-200": Behaviour(lambda ex: ex.send(200, b"<?xml version='1.0'?><life code='200'/>",
                                            {"Content-Type": "application/xml"})),
    "json-with-bom": Behaviour(lambda ex: ex.send(ex.status, b"\xef\xbb\xbf" + ex.good()),
                               expected={p: 0 for p in PROBES}),
    "wrong-content-type": Behaviour(lambda ex: ex.send(ex.status, ex.good(),
                                                       {"Content-Type": "text/plain"}),
                                    expected={p: 0 for p in PROBES}),
    "invalid-utf8": Behaviour(lambda ex: ex.send(200, b'{"statusCode": 200, "x": "\xff\xfe"}')),
    "nan-infinity": Behaviour(lambda ex: ex.send(
        200, b'{"statusCode": NaN, "token": Infinity, "jobId": -Infinity}')),
    "duplicate-keys": Behaviour(lambda ex: ex.send(ex.status, _duplicated(ex.document))),
    "nesting-100-levels": Behaviour(lambda ex: ex.send(200, _nested(100))),
    "nesting-100000-levels": Behaviour(lambda ex: ex.send(200, _nested(100000))),
    "body-50mb": Behaviour(_huge),
    "body-50mb-chunked": Behaviour(_huge_chunked),
    "gzip-bomb": Behaviour(lambda ex: ex.send(200, GZIP_BOMB, {"Content-Encoding": "gzip"})),
    "chunked-cut-short": Behaviour(_chunked_cut),
    "content-length-too-large": Behaviour(lambda ex: ex.send(
        ex.status, ex.good(), {"Content-Length": str(len(ex.good()) + 50)})),
    "content-length-too-small": Behaviour(lambda ex: ex.send(
        ex.status, ex.good(), {"Content-Length": str(len(ex.good()) // 2)})),
    "401-after-login": Behaviour(lambda ex: ex.send(ex.status, ex.good()) if ex.role == "login"
                                 else ex.send(401, b'{"statusCode": 401, "message": "expired"}'),
                                 expected={"auth": 0}),
    "429-with-retry-after": Behaviour(lambda ex: ex.send(
        429, b'{"statusCode": 429, "message": "slow down"}', {"Retry-After": "30"},
        "Too Many Requests")),
    "429-without-retry-after": Behaviour(lambda ex: ex.send(429, b"", {}, "Too Many Requests")),
    "500-json-error": Behaviour(lambda ex: ex.send(
        500, b'{"statusCode": 500, "message": "CommServe database unreachable"}')),
    "503-html-maintenance": Behaviour(lambda ex: ex.send(
        503, b"<html><h1>Maintenance</h1></html>", {"Content-Type": "text/html"})),
    "job-goes-backwards": Behaviour(_job_mangle(_backwards), expected=API_ONLY_OK),
    "job-jumps-to-another-id": Behaviour(_job_mangle(
        lambda d, ex: dict(d, jobId=int(d["jobId"]) + 1000)), expected=API_ONLY_OK),
    "job-running-forever": Behaviour(_job_mangle(_forever),
                                     expected=dict(API_ONLY_OK, backup=3, restore=3)),
    "job-status-missing": Behaviour(_job_mangle(
        lambda d, ex: {k: v for k, v in d.items() if k != "status"}), expected=API_ONLY_OK),
    "health-unknown-component-states": Behaviour(
        _health_mangle(_unknown_states), expected=dict(API_ONLY_OK, health=2, backup=0,
                                                       restore=0)),
    "header-injection-in-error-text": Behaviour(_injection),
    "json-null": Behaviour(lambda ex: ex.send(200, b"null")),
    "empty-object": Behaviour(lambda ex: ex.send(200, b"{}")),
}


class HostileServer:
    """All behaviours, on threads; ``stop()`` wakes every stalled handler and closes all."""

    def __init__(self, pki: Path) -> None:
        self.stopping = threading.Event()
        self.contract = Simulator(scenario_from({"credentials": {"username": "nagios",
                                                                 "password": PASSWORD},
                                                 "job_speed": 60, "job_duration": 30}))
        self.sockets: List[socket.socket] = []
        self.ports: Dict[str, int] = {}
        self.counters: Dict[Any, int] = {}
        self.lock = threading.Lock()
        contexts = {name: self._context(pki, name) for name in
                    ("good", "self", "expired", "wronghost", "weak")}
        for name in ("plain", "good", "self", "expired", "wronghost", "weak"):
            self._listen(name, contexts.get(name))
        self.ports["plain-as-https"] = self.ports["plain"]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.ports["closed"] = probe.getsockname()[1]

    def count(self, key: Any) -> int:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]

    def base_url(self, behaviour: str) -> str:
        listener = BEHAVIOURS[behaviour].listener
        scheme = "http" if listener in ("plain", "closed") else "https"
        return f"{scheme}://127.0.0.1:{self.ports[listener]}/b/{behaviour}/api/v1"

    def stop(self) -> None:
        self.stopping.set()
        for sock in self.sockets:
            sock.close()

    @staticmethod
    def _context(pki: Path, name: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.load_cert_chain(str(pki / f"{name}.pem"), str(pki / f"{name}.key"))
        return context

    def _listen(self, name: str, context: Optional[ssl.SSLContext]) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        self.sockets.append(sock)
        self.ports[name] = sock.getsockname()[1]
        threading.Thread(target=self._accept, args=(sock, context), daemon=True).start()

    def _accept(self, sock: socket.socket, context: Optional[ssl.SSLContext]) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, context), daemon=True).start()

    def _serve(self, conn: socket.socket, context: Optional[ssl.SSLContext]) -> None:
        try:
            conn.settimeout(30)
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
            request = read_request(conn, b"")
            if request is None:
                return
            received, _ = request
            self._dispatch(conn, received.method, received.target, received.body)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _dispatch(self, conn: socket.socket, method: str, path: str, body: bytes) -> None:
        parts = path.split("/", 3)   # "", "b", behaviour, rest
        behaviour = BEHAVIOURS.get(parts[2]) if len(parts) > 3 else None
        if behaviour is None:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        route, _, query = ("/" + parts[3]).partition("?")
        role = ROUTES.get((method, route[len("/api/v1"):])) if route.startswith("/api/v1/") \
            else None
        try:
            request_document = json.loads(body) if body else None
        except ValueError:
            request_document = None
        if role == "job_list":
            status, document = self.contract.job_list(None, {}, dict(parse_qsl(query)))
        else:
            status, document = (200, {}) if role is None else getattr(self.contract, role)(
                request_document, {})
        behaviour.handle(Exchange(conn, method, path, role, status, document, self))


PASSWORD = "Hostile-Pa55word-never-printed"


def make_pki(directory: Path) -> Path:
    """A CA, and leaf certificates: good, self-signed, expired, wrong host, 1024-bit key."""
    authority = Authority(directory, "hostile test CA")
    authority.issue("good", rsa_bits=2048)
    authority.issue("expired", valid_from=-10, valid_until=-1, rsa_bits=2048)
    authority.issue("wronghost", hosts=("other.example",), rsa_bits=2048)
    authority.issue("weak", rsa_bits=1024)
    authority.issue("self", self_signed=True, rsa_bits=2048)
    return directory


def wait_port(port: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
