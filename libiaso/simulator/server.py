"""The simulator's HTTP server: our API contract plus an admin API, threaded, on loopback."""
from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from .jobs import JobBook
from .scenario import COMPONENTS, Scenario, ScenarioError, scenario_from

ADMIN = "/_admin"
ROUTES = {("GET", "/life"): "life", ("GET", "/health"): "health", ("POST", "/login"): "login",
          ("POST", "/backups"): "backup", ("POST", "/jobs/status"): "job_status",
          ("POST", "/restores"): "restore"}
MAX_REQUEST_BODY = 1024 * 1024


class Simulator:
    """The simulated IASO: scenario, tokens, jobs and request counters, behind one lock."""

    def __init__(self, scenario: Optional[Scenario] = None, prefix: str = "/api/v1") -> None:
        self.scenario = scenario or Scenario()
        self.prefix = prefix.rstrip("/")
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

    # --- the contract --------------------------------------------------------------------------

    def life(self, body: Any, headers: Any) -> Tuple[int, Any]:
        return 200, {"statusCode": 200, "message": "IASO API is alive", "version": "3.4.1"}

    def health(self, body: Any, headers: Any) -> Tuple[int, Any]:
        components = []
        for name, kind in COMPONENTS:
            status = self.scenario.components.get(name, "healthy")
            entry = {"name": name, "type": kind, "status": status}
            if status != "healthy":
                entry["message"] = f"{name} does not answer its health probe"
            components.append(entry)
        for name, status in self.scenario.components.items():
            if name not in dict(COMPONENTS):
                components.append({"name": name, "type": "internal", "status": status})
        overall = "healthy" if all(c["status"] == "healthy" for c in components) else "unhealthy"
        return 200, {"status": overall, "components": components}

    def login(self, body: Any, headers: Any) -> Tuple[int, Any]:
        scenario = self.scenario
        expected = scenario.password
        if scenario.password_encoding == "base64":
            expected = base64.b64encode(expected.encode("utf-8")).decode("ascii")
        if (scenario.reject_logins or not isinstance(body, dict)
                or body.get("username") != scenario.username
                or body.get("password") != expected):
            return 401, {"statusCode": 401, "message": "KO"}
        lifetime = scenario.token_lifetime
        token = _jwt(scenario.username, time.time() + lifetime)
        with self.lock:
            self.tokens[token] = time.monotonic() + lifetime
            self.issued.append(token)
        return 200, {"token": token, "expiresIn": int(lifetime)}

    def backup(self, body: Any, headers: Any) -> Tuple[int, Any]:
        hostname, level = _fields(body, "hostname", "backupLevel")
        if not hostname or not level:
            return 400, {"statusCode": 400, "message": "hostname and backupLevel are required"}
        job = self.jobs.start("backup", hostname, self.scenario)
        return 202, {"started": True, "jobId": job.job_id, "hostname": hostname}

    def restore(self, body: Any, headers: Any) -> Tuple[int, Any]:
        hostname, file_name, path, destination = _fields(body, "hostname", "fileName", "path",
                                                         "destination")
        if not (hostname and file_name and path and destination):
            return 400, {"statusCode": 400,
                         "message": "hostname, fileName, path and destination are required"}
        job = self.jobs.start("restore", hostname, self.scenario)
        return 202, {"started": True, "jobId": job.job_id, "hostname": hostname}

    def job_status(self, body: Any, headers: Any) -> Tuple[int, Any]:
        job_id, hostname = _fields(body, "jobId", "hostname")
        document = self.jobs.status(job_id, str(hostname), self.scenario)
        if document is None:
            return 404, {"statusCode": 404, "message": f"job {job_id} not found for {hostname}"}
        return 200, document

    def authorised(self, headers: Any) -> bool:
        value = headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            return False
        with self.lock:
            expiry = self.tokens.get(value[len("Bearer "):])
        return expiry is not None and expiry > time.monotonic()


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # thousands of clients may connect at once in load tests


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
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        if path.startswith(ADMIN + "/"):
            self._admin(method, path[len(ADMIN):], raw)
            return
        sim = self.sim
        role = None
        if path.startswith(sim.prefix + "/") or path == sim.prefix:
            role = ROUTES.get((method, path[len(sim.prefix):]))
        if role is None:
            self._send(404, {"statusCode": 404, "message": f"no route for {method} {path}"})
            return
        with sim.lock:
            sim.counters[role] += 1
        scenario = sim.scenario
        fault = scenario.fault(role)
        if fault.latency:
            sim.stopping.wait(fault.latency)
        if fault.hang:
            sim.stopping.wait(600)
            self.close_connection = True
            return
        if fault.redirect:
            self._send(302, {"statusCode": 302}, extra={"Location": fault.redirect})
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, {"statusCode": 400, "message": "request body is not JSON"})
            return
        if role in ("backup", "restore", "job_status") and not sim.authorised(self.headers):
            self._send(401, {"statusCode": 401, "message": "token missing, invalid or expired"})
            return
        status, document = getattr(sim, role)(body, self.headers)
        if fault.status is not None:
            status = fault.status
            if not 200 <= status < 300:
                document = {"statusCode": status, "message": f"simulated HTTP {status}"}
        self._play(status, document, fault)

    def _play(self, status: int, document: Any, fault: Any) -> None:
        body = fault.body
        content_type = fault.content_type or "application/json"
        if body is None:
            self._send(status, document, content_type=content_type)
        elif isinstance(body, dict) and "json" in body:
            self._send(status, body["json"], content_type=content_type)
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
            self._send(status, [document], content_type=content_type)
        elif body == "truncated":
            payload = json.dumps(document).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload) + 100))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        elif body == "huge":
            self._send_huge(status, fault.huge_bytes)

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


def _fields(body: Any, *names: str) -> Tuple[Any, ...]:
    if not isinstance(body, dict):
        return tuple(None for _ in names)
    return tuple(body.get(name) for name in names)


def _jwt(subject: str, expires_at: float) -> str:
    def segment(document: Dict[str, Any]) -> str:
        raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    return ".".join((segment({"alg": "HS256", "typ": "JWT"}),
                     segment({"sub": subject, "exp": int(expires_at),
                              "jti": secrets.token_hex(8)}),
                     secrets.token_urlsafe(32)))
