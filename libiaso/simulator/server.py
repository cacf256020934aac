"""The simulator's HTTP server: one API contract plus an admin API, threaded, on loopback.

The contract (``iaso``, ours; or ``commvault``, Commvault's own) says which routes exist and
how each answer is shaped; the scenario's faults (latency, status, body faults, hang, redirect)
are played here the same way for both.
"""
from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qsl, unquote

from .commvault import CommvaultContract
from .exchange import Answer, Request, Stream
from .iaso import ROUTES, IasoContract
from .inventory import Fleet, Listing, Page
from .jobs import JobBook
from .scenario import Scenario, ScenarioError, scenario_from

__all__ = ["CONTRACTS", "ROUTES", "Simulator", "SimulatorHandler"]

ADMIN = "/_admin"
MAX_REQUEST_BODY = 1024 * 1024
Contract = Union[IasoContract, CommvaultContract]
CONTRACTS: Dict[str, Callable[[Simulator], Contract]] = {"iaso": IasoContract,
                                                         "commvault": CommvaultContract}


class Simulator:
    """The simulated API: contract, scenario, tokens, jobs, fleet and counters, behind one lock."""

    def __init__(self, scenario: Optional[Scenario] = None, prefix: Optional[str] = None,
                 contract: str = "iaso", clock: Callable[[], float] = time.time) -> None:
        if contract not in CONTRACTS:
            raise ValueError(f"unknown contract {contract!r}; known: {', '.join(CONTRACTS)}")
        self.contract: Contract = CONTRACTS[contract](self)
        self.scenario = scenario or Scenario()
        self.prefix = (self.contract.default_prefix if prefix is None else prefix).rstrip("/")
        self.clock = clock   # epoch seconds: the fleet's "now" and Commvault's job times
        self.monotonic: Callable[[], float] = time.monotonic   # token expiry
        self.jobs = JobBook()
        self.counters: Counter = Counter()
        self.connections = 0
        self.peak_connections = 0
        self.tokens: Dict[str, float] = {}
        self.issued: List[str] = []  # every token ever handed out, for leak checks
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.httpd: Optional[ThreadingHTTPServer] = None
        self.thread: Optional[threading.Thread] = None
        self.url = ""
        self._fleet: Optional[Fleet] = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0,
              tls: Optional[Tuple[str, str]] = None) -> str:
        """Listen (in a background thread) and return the base URL of the API."""
        simulator = self

        class Handler(SimulatorHandler):
            sim = simulator

        self.httpd = _Server((host, port), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="iaso-simulator",
                                       daemon=True)
        self.thread.start()
        bound_host, bound_port = self.httpd.server_address[:2]
        shown = host if tls else str(bound_host)
        self.url = f"{scheme}://{shown}:{bound_port}{self.prefix}"
        return self.url

    def stop(self) -> None:
        self.stopping.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def set_scenario(self, scenario: Scenario) -> None:
        with self.lock:
            self.scenario = scenario

    def reset(self) -> None:
        with self.lock:
            self.counters.clear()
            self.tokens.clear()
            self.peak_connections = self.connections
        self.jobs.reset()

    # --- state the contracts share -------------------------------------------------------------

    def credentials_match(self, username: Any, password: Any, default_encoding: str) -> bool:
        scenario = self.scenario
        expected = scenario.password
        if (scenario.password_encoding or default_encoding) == "base64":
            expected = base64.b64encode(expected.encode("utf-8")).decode("ascii")
        return username == scenario.username and password == expected

    def issue_token(self, token: str, lifetime: float) -> None:
        with self.lock:
            self.tokens[token] = self.monotonic() + lifetime
            self.issued.append(token)

    def token_alive(self, token: str, sliding: bool) -> bool:
        """True if ``token`` was issued and has not expired; a ``sliding`` token lives
        ``token_lifetime`` seconds from its last use."""
        now = self.monotonic()
        with self.lock:
            expiry = self.tokens.get(token)
            alive = expiry is not None and expiry > now
            if alive and sliding:
                self.tokens[token] = now + self.scenario.token_lifetime
        return alive

    def fleet(self) -> Fleet:
        spec = self.scenario.inventory
        fleet = self._fleet
        if fleet is None or fleet.spec is not spec:
            fleet = self._fleet = Fleet(spec)
        return fleet

    def page(self, offset: int, limit: Optional[int], since: Optional[float]) -> Page:
        """The VMs from ``offset`` (``limit`` of them, or all), changed at or after ``since``,
        with the scenario's inventory faults played."""
        fleet = self.fleet()
        faults = fleet.spec.faults
        now = self.clock()
        selected = range(fleet.size) if since is None else fleet.changed_since(since, now)
        listing = Listing(selected, faults.duplicates)
        if limit is None:
            start, stop, drift = 0, len(listing), faults.total_drift
        else:
            number = offset // limit + 1
            start = offset
            if number in faults.repeat_pages:
                start = max(0, offset - limit)
            elif offset > 0:
                start = max(0, offset - faults.overlap)
            stop, drift = start + limit, faults.total_drift * (number - 1)
        cut_after = None
        if faults.cut_at is not None and start <= faults.cut_at < min(stop, len(listing)):
            cut_after = faults.cut_at - start
        return Page(fleet, listing, start, stop, max(0, len(listing) + drift), cut_after, now)

    def route(self, method: str, route: str) -> Optional[Tuple[str, Dict[str, str]]]:
        """The role of ``method route`` in this contract, with its path parameters."""
        for allowed, pattern, role in self.contract.routes:
            match = pattern.match(route)
            if match and allowed == method:
                return role, {k: unquote(v) for k, v in match.groupdict().items()}
        return None

    # --- our contract's calls, as the hostile harnesses replay them ----------------------------

    def _call(self, role: str, body: Any, headers: Any,
              query: Optional[Mapping[str, str]] = None) -> Tuple[int, Any]:
        answer = getattr(self.contract, role)(Request("POST", "", query or {}, body,
                                                      headers or {}))
        return answer.status, answer.document

    def life(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return self._call("life", body, headers)

    def health(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return self._call("health", body, headers)

    def login(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return self._call("login", body, headers)

    def backup(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return self._call("backup", body, headers)

    def restore(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return self._call("restore", body, headers)

    def job_status(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return self._call("job_status", body, headers)

    def job_list(self, body: Any, headers: Any,
                 query: Optional[Mapping[str, str]] = None) -> Tuple[int, Any]:
        return self._call("job_list", body, headers, query)

    def authorised(self, headers: Any) -> bool:
        return self.contract.authorised(headers)


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # thousands of clients may connect at once in load tests

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a probe at its deadline) is no error to print."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class SimulatorHandler(BaseHTTPRequestHandler):
    """One request: admin API, or a contract endpoint played through the scenario's faults."""

    sim: Simulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server_version = "IASO-simulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from stdlib
        return

    def setup(self) -> None:
        super().setup()
        with self.sim.lock:
            self.sim.connections += 1
            self.sim.peak_connections = max(self.sim.peak_connections, self.sim.connections)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.sim.lock:
                self.sim.connections -= 1

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        path, _, query_text = self.path.partition("?")
        raw = self._read_body()
        if path.startswith(ADMIN + "/"):
            self._admin(method, path[len(ADMIN):], raw)
            return
        sim = self.sim
        contract = sim.contract
        found = None
        if path.startswith(sim.prefix + "/") or path == sim.prefix:
            found = sim.route(method, path[len(sim.prefix):])
        if found is None:
            self._answer(contract.error(404, f"no route for {method} {path}"))
            return
        role, params = found
        with sim.lock:
            sim.counters[role] += 1
        fault = sim.scenario.fault(role)
        if fault.latency:
            sim.stopping.wait(fault.latency)
        if fault.hang:
            sim.stopping.wait(600)
            self.close_connection = True
            return
        if fault.redirect:
            self._send(fault.redirect_status, {"statusCode": fault.redirect_status},
                       extra={"Location": fault.redirect})
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._answer(contract.error(400, "request body is not JSON"))
            return
        if role in contract.authenticated and not contract.authorised(self.headers):
            self._answer(contract.unauthorised())
            return
        failure = None if fault.status is None or 200 <= fault.status < 300 else fault.status
        if failure is not None and not fault.acted:
            self._play(contract.fault_error(failure), fault)
            return
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        answer = getattr(contract, role)(Request(method, path[len(sim.prefix):], query, body,
                                                 self.headers, params))
        if failure is not None:
            answer = contract.fault_error(failure)
        elif fault.status is not None:
            answer = answer._replace(status=fault.status)
        self._play(answer, fault)

    def _play(self, answer: Answer, fault: Any) -> None:
        body = fault.body
        status, document = answer.status, answer.document
        content_type = fault.content_type or answer.content_type
        if body is None:
            self._answer(answer._replace(content_type=content_type))
        elif isinstance(body, dict) and "json" in body:
            self._send(status, body["json"], content_type=fault.content_type or
                       "application/json")
        elif isinstance(body, dict) and "raw" in body:
            self._send_raw(status, str(body["raw"]).encode("utf-8"),
                           fault.content_type or "text/plain")
        elif body == "html":
            self._send_raw(status, b"<!DOCTYPE html><html><body><h1>Maintenance</h1>"
                                   b"</body></html>", fault.content_type or "text/html")
        elif body == "malformed":
            self._send_raw(status, b'{"statusCode": 200, "message": ', content_type)
        elif body == "empty":
            self._send_raw(status, b"", content_type)
        elif body == "list":
            if isinstance(document, Stream):
                document.wrap = True
                self._send_stream(status, document, content_type)
            else:
                self._send(status, [document], content_type=content_type)
        elif body == "truncated":
            payload = self._payload(document)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload) + 100))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        elif body == "huge":
            self._send_huge(status, fault.huge_bytes)

    def _answer(self, answer: Answer) -> None:
        document = answer.document
        if isinstance(document, Stream):
            self._send_stream(answer.status, document, answer.content_type)
        elif isinstance(document, str) and not answer.content_type.endswith("json"):
            self._send_raw(answer.status, document.encode("utf-8"), answer.content_type)
        else:
            self._send(answer.status, document, content_type=answer.content_type)

    @staticmethod
    def _payload(document: Any) -> bytes:
        if isinstance(document, Stream):
            return document.whole()
        if isinstance(document, str):
            return document.encode("utf-8")
        return json.dumps(document).encode("utf-8")

    def _send_stream(self, status: int, stream: Stream, content_type: str) -> None:
        """Write a streamed answer in HTTP/1.1 chunks; a cut stream ends without the last
        chunk and closes the connection."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in stream.pieces():
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if stream.cut:
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def _send_huge(self, status: int, size: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b" " * 65536
        sent = 0
        try:
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass
        self.close_connection = True

    def _admin(self, method: str, path: str, raw: bytes) -> None:
        sim = self.sim
        if path == "/counters" and method == "GET":
            with sim.lock:
                counters = dict(sim.counters, connections=sim.connections,
                                peak_connections=sim.peak_connections)
            self._send(200, counters)
        elif path == "/scenario" and method == "PUT":
            try:
                import yaml

                scenario = scenario_from(yaml.safe_load(raw.decode("utf-8")) if raw else None)
            except (ScenarioError, ValueError, TypeError) as exc:
                self._send(400, {"statusCode": 400, "message": f"bad scenario: {exc}"})
                return
            except Exception as exc:  # noqa: BLE001 - YAML errors have no common base here
                self._send(400, {"statusCode": 400, "message": f"bad scenario: {exc}"})
                return
            sim.set_scenario(scenario)
            self._send(200, {"statusCode": 200, "message": "scenario replaced"})
        elif path == "/reset" and method == "POST":
            sim.reset()
            self._send(200, {"statusCode": 200, "message": "counters, tokens and jobs reset"})
        else:
            self._send(404, {"statusCode": 404, "message": f"no admin route {method} {path}"})

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else 0
        return self.rfile.read(min(size, MAX_REQUEST_BODY)) if size else b""

    def _send(self, status: int, document: Any, content_type: str = "application/json",
              extra: Optional[Dict[str, str]] = None) -> None:
        self._send_raw(status, json.dumps(document).encode("utf-8"), content_type, extra)

    def _send_raw(self, status: int, payload: bytes, content_type: str,
                  extra: Optional[Dict[str, str]] = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True
