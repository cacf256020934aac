"""A second hostile IASO on loopback, for tests/test_hostile_campaign.py.

One raw-socket server answers every case behind its own path,
``<scheme>://127.0.0.1:<port>/c/<case>/api/v1/...``. Each case has its own contract (the
simulator's answers, its own job book on a clock the test moves), its own mode (which the test
changes between the runs of a multi-run case), and a log of every request it received, so a
test can count launches and see what was sent where. A canary listener on 127.0.0.2, one port
per case that asks for it, stands for "another host": nothing may ever reach it.
"""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl

from certificates import Authority

from libiaso.simulator.jobs import JobBook
from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import ROUTES, Simulator

# Non-ASCII letters, a space, a quote and a backslash: every escaping a transport or a log may
# apply changes this password's bytes, so a masking that forgets one form is caught.
PASSWORD = 'Ĥøstile "cämpaign" Pa55\\wörd-never-printed'
USERNAME = "nagios"
TLS_LISTENERS = ("good", "self", "notyet", "leafsigned")


class CaseClock:
    """Monotonic time plus an offset the test moves forward: simulated hours in no time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Headers:
    """Request headers, looked up without regard to case (what Simulator.authorised needs)."""

    def __init__(self, pairs: List[Tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: Any = None) -> Any:
        for key, value in self.pairs:
            if key.lower() == name.lower():
                return value
        return default


@dataclass
class Received:
    """One request as it reached the server."""

    method: str
    target: str
    role: Optional[str]
    headers: Headers
    body: bytes


@dataclass
class CaseState:
    """What the server keeps for one case: contract, clock, mode, requests, minted secrets."""

    contract: Simulator
    clock: CaseClock
    mode: Any = None
    requests: List[Received] = field(default_factory=list)
    minted: List[str] = field(default_factory=list)
    counters: Dict[Any, int] = field(default_factory=dict)
    memory: Dict[str, Any] = field(default_factory=dict)

    def count(self, key: Any) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def launches(self, kind: str) -> int:
        """Jobs of ``kind`` the contract really started (answered 202)."""
        return self.counters.get(("launched", kind), 0)


class Exchange:
    """One request being answered: the socket, what was asked, what the contract would say."""

    def __init__(self, conn: socket.socket, server: WireServer, case: str, state: CaseState,
                 received: Received, listener: str) -> None:
        self.conn = conn
        self.server = server
        self.case = case
        self.state = state
        self.received = received
        self.listener = listener
        self.keep_alive = False
        self._answer: Optional[Tuple[int, Any]] = None

    @property
    def role(self) -> Optional[str]:
        return self.received.role

    @property
    def request(self) -> Any:
        try:
            return json.loads(self.received.body) if self.received.body else None
        except ValueError:
            return None

    def answer(self) -> Tuple[int, Any]:
        """The contract's (status, document) for this request, computed once."""
        if self._answer is None:
            self._answer = self.server.contract_answer(self)
        return self._answer

    @property
    def status(self) -> int:
        return self.answer()[0]

    @property
    def document(self) -> Any:
        return self.answer()[1]

    def good(self) -> bytes:
        return json.dumps(self.document).encode()

    def raw(self, data: bytes) -> None:
        self.conn.sendall(data)

    def send(self, status: int, body: bytes, headers: Optional[Mapping[str, Optional[str]]] = None,
             reason: str = "OK", head: bytes = b"") -> None:
        """A whole answer; ``head`` goes before the status line (interim answers)."""
        fields: Dict[str, Optional[str]] = {"Content-Type": "application/json",
                                            "Content-Length": str(len(body)),
                                            "Connection": "keep-alive" if self.keep_alive
                                            else "close"}
        fields.update(headers or {})
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in fields.items()
                                                    if v is not None]
        self.conn.sendall(head + ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def contract(self) -> None:
        """Answer as the contract says."""
        self.send(self.status, self.good(), reason="OK" if self.status < 400 else "Error")

    def url(self, path: str = "") -> str:
        """An absolute URL of this case on this listener."""
        return self.server.case_url(self.case, self.listener) + path

    def wait(self, seconds: float = 60) -> None:
        self.server.stopping.wait(seconds)


Handler = Callable[[Exchange], None]


class WireServer:
    """Every listener, every case's state, and the canaries on 127.0.0.2."""

    def __init__(self, pki: Path, handlers: Mapping[str, Handler],
                 listeners: Mapping[str, str]) -> None:
        self.pki = pki
        self.handlers = handlers
        self.case_listener = listeners
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sockets: List[socket.socket] = []
        self.ports: Dict[str, int] = {}
        self.cases: Dict[str, CaseState] = {}
        self.canaries: Dict[str, int] = {}
        self.canary_hits: Dict[str, List[bytes]] = {}
        self._listen("plain", None)
        for name in TLS_LISTENERS:
            self._listen(name, self._tls_context(name))

    # --- cases ---------------------------------------------------------------------------------

    def state(self, case: str) -> CaseState:
        with self.lock:
            if case not in self.cases:
                clock = CaseClock()
                contract = Simulator(scenario_from({
                    "credentials": {"username": USERNAME, "password": PASSWORD},
                    "job_speed": 60, "job_duration": 30}))
                contract.jobs = JobBook(clock=clock)
                self.cases[case] = CaseState(contract, clock)
            return self.cases[case]

    def case_url(self, case: str, listener: Optional[str] = None) -> str:
        listener = listener or self.case_listener.get(case, "plain")
        scheme = "http" if listener == "plain" else "https"
        return f"{scheme}://127.0.0.1:{self.ports[listener]}/c/{case}/api/v1"

    def canary(self, case: str) -> int:
        """A port on 127.0.0.2 for this case; every connection to it is recorded."""
        with self.lock:
            if case in self.canaries:
                return self.canaries[case]
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.2", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        with self.lock:
            self.sockets.append(sock)
            self.canaries[case] = port
            self.canary_hits[case] = []
        threading.Thread(target=self._canary, args=(sock, case), daemon=True).start()
        return port

    def issued(self, case: str) -> List[str]:
        state = self.cases.get(case)
        return [] if state is None else list(state.contract.issued) + list(state.minted)

    def contract_answer(self, ex: Exchange) -> Tuple[int, Any]:
        role = ex.role
        if role is None:
            return 404, {"statusCode": 404, "message": "no such route"}
        contract = ex.state.contract
        if role in ("backup", "restore", "job_status", "job_list") and \
                not contract.authorised(ex.received.headers):
            return 401, {"statusCode": 401, "message": "token missing, invalid or expired"}
        if role == "job_list":
            query = dict(parse_qsl(ex.received.target.partition("?")[2]))
            status, document = contract.job_list(None, ex.received.headers, query)
        else:
            status, document = getattr(contract, role)(ex.request, ex.received.headers)
        if role in ("backup", "restore") and status == 202:
            with self.lock:
                ex.state.count(("launched", role))
        return status, document

    def stop(self) -> None:
        self.stopping.set()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass

    # --- sockets -------------------------------------------------------------------------------

    def _tls_context(self, name: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.pki / f"{name}.pem"), str(self.pki / f"{name}.key"))
        return context

    def _listen(self, name: str, context: Optional[ssl.SSLContext]) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        self.sockets.append(sock)
        self.ports[name] = sock.getsockname()[1]
        threading.Thread(target=self._accept, args=(sock, context, name), daemon=True).start()

    def _accept(self, sock: socket.socket, context: Optional[ssl.SSLContext],
                listener: str) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, context, listener),
                             daemon=True).start()

    def _canary(self, sock: socket.socket, case: str) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(1)
                data = conn.recv(65536)
            except OSError:
                data = b""
            finally:
                conn.close()
            with self.lock:
                self.canary_hits[case].append(data or b"(connection)")

    def _serve(self, conn: socket.socket, context: Optional[ssl.SSLContext],
               listener: str) -> None:
        try:
            conn.settimeout(30)
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
            pending = b""
            while True:
                request = read_request(conn, pending)
                if request is None:
                    return
                received, pending = request
                if not self._dispatch(conn, received, listener):
                    return
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _dispatch(self, conn: socket.socket, received: Received, listener: str) -> bool:
        """Answer one request; True to read another on the same connection."""
        parts = received.target.split("?", 1)[0].split("/", 3)   # "", "c", case, rest
        if len(parts) < 4 or parts[1] != "c" or parts[2] not in self.handlers:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return False
        case = parts[2]
        route = "/" + parts[3].split("?", 1)[0]
        if route.startswith("/api/v1/"):
            received.role = ROUTES.get((received.method, route[len("/api/v1"):]))
        state = self.state(case)
        with self.lock:
            state.requests.append(received)
        exchange = Exchange(conn, self, case, state, received, listener)
        self.handlers[case](exchange)
        return exchange.keep_alive


def read_request(conn: socket.socket, pending: bytes) -> Optional[Tuple[Received, bytes]]:
    """One request from ``conn`` (after the bytes already read), and what followed it."""
    data = pending
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if data[:1] == b"\x16":   # a TLS handshake on the plain port
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    pairs = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        pairs.append((name.strip(), value.strip()))
    headers = Headers(pairs)
    length = int(headers.get("Content-Length", "0") or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Received(method, target, None, headers, rest[:length]), rest[length:]


def make_pki(directory: Path) -> Path:
    """The CA and the server certificates of the TLS listeners.

    good: from the CA, for 127.0.0.1. self: self-signed. notyet: from the CA, valid from
    tomorrow. leafsigned: issued by a certificate that the CA made without the right to sign
    (basicConstraints CA:FALSE), served with it as its chain.
    """
    authority = Authority(directory, "campaign test CA")
    authority.issue("good")
    authority.issue("self", self_signed=True)
    authority.issue("notyet", valid_from=1, valid_until=2)
    authority.issue("leafsigned", signer=authority.issue("not a CA", write=False))
    return directory
