"""A backup portal written elsewhere: the "Tessera" REST API v3, another vendor's shapes.

Neither our contract nor Commvault's. Its conventions, each one a real API's habit:

- every success answer is wrapped in ``data``; every refusal is a JSON:API error list
  ``{"errors": [{"status", "code", "detail"}]}`` with a 4xx or 5xx status (JSON:API 1.1, "Error
  Objects");
- life: ``GET /ping`` answers ``{"data": {"alive": true, "version": ...}}``;
- health: a Spring Boot Actuator answer (``status`` UP, DOWN, OUT_OF_SERVICE, UNKNOWN and a
  custom DEGRADED; components keyed by name, ``details.error`` for why, one composite
  ``storage`` group nesting its own components), HTTP 503 whenever the aggregate is DOWN or
  OUT_OF_SERVICE, as Actuator's default status mapping does;
- login: ``POST /auth/login`` ``{"user", "pass"}`` answering ``{"data": {"access_token",
  "token_type", "expires_at"}}``: an ISO 8601 instant, no lifetime in seconds, written as .NET's
  round-trip format writes it (seven fractional digits, ``2026-11-25T14:00:00.0000000Z``: the
  portal's identity service is a separate .NET product); also the OAuth 2
  password grant, ``POST /oauth/token`` with a form body (RFC 6749 section 4.3 and 5.1/5.2);
  the token goes back as ``Authorization: Bearer``;
- backup: ``PUT /hosts/{hostname}/backup?level=INCREMENTAL`` with no body, levels an upper-case
  enumeration (FULL, INCREMENTAL, DIFFERENTIAL) matched exactly; job IDs are UUIDs;
- restore: ``POST /hosts/{hostname}/restores`` with ``{"items": [{"path": "/etc/hosts"}],
  "target": {"host", "directory"}, "overwrite": false}``; unknown body fields are refused;
- job status: ``GET /jobs/{id}`` answering ``{"data": {"job": {...}}}``, ``{"data": {"job":
  null}}`` while the job is not yet indexed (an unknown UUID is a 404); ``state`` is a number
  1..9 (below), ``progress`` a fraction 0..1, ``elapsed`` an ISO 8601 duration (``PT1H2M3S``),
  ``startedAt`` epoch milliseconds;
- job listing: ``GET /jobs?host=&type=BACKUP|RESTORE&startedAfter=<ISO 8601>``, newest first,
  ``{"data": [...], "links": {"next": null}}``;
- VM listing: ``GET /vms?page=0&size=200``, a Spring Data page (``content``, ``totalElements``,
  ``totalPages``, ``number``, ``size``, ``last``), pages numbered from 0, times ISO 8601 with
  milliseconds and ``Z``.

Job states: 1 QUEUED, 2 WAITING_FOR_RESOURCES, 3 RUNNING, 4 PAUSED, 5 SUCCEEDED,
6 SUCCEEDED_WITH_WARNINGS, 7 PARTIALLY_SUCCEEDED (some items failed), 8 FAILED, 9 CANCELLED.

Time is the server's ``clock`` (a callable giving epoch seconds), so a test moves jobs on without
sleeping. Faults are set on the instance (``faults``, ``plans``, ``vms``); every request is
recorded in ``requests`` (the password and tokens never: only which header names came).
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = "/tessera/api/v3"
LEVELS = ("FULL", "INCREMENTAL", "DIFFERENTIAL")
STATE_NAMES = {1: "QUEUED", 2: "WAITING_FOR_RESOURCES", 3: "RUNNING", 4: "PAUSED",
               5: "SUCCEEDED", 6: "SUCCEEDED_WITH_WARNINGS", 7: "PARTIALLY_SUCCEEDED",
               8: "FAILED", 9: "CANCELLED"}
COMPONENTS: Dict[str, Any] = {
    "scheduler": {},
    "catalog": {"database": "PostgreSQL"},
    "commvault-bridge": {},
    "storage": {"s3-primary": {}, "tape-library": {}},   # a composite: nested components
    "vcenter": {},
}
HEALTH_ORDER = ("DOWN", "OUT_OF_SERVICE", "DEGRADED", "UP", "UNKNOWN")   # worst first


def iso_instant(epoch: float) -> str:
    """An instant as Jackson writes a java.time.Instant: UTC, milliseconds when not zero, 'Z'."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = round((epoch - int(epoch)) * 1000) % 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def dotnet_instant(epoch: float) -> str:
    """An instant as .NET's DateTime "o" format writes it in UTC: always seven fractional digits."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    ticks = round((epoch - int(epoch)) * 10_000_000) % 10_000_000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07d}Z"


def iso_duration(seconds: float) -> str:
    """A duration as java.time.Duration.toString() writes it: PT1H2M3S, PT0S."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or text == "PT":
        text += f"{secs}S"
    return text


def parse_instant(text: str) -> Optional[float]:
    try:
        moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return None
    return moment.timestamp()


def errors(status: int, code: str, detail: str) -> Tuple[int, Dict[str, Any]]:
    return status, {"errors": [{"status": str(status), "code": code, "detail": detail}]}


@dataclass
class Plan:
    """How the jobs of one host behave."""

    outcome: int = 5               # final state: 5..9
    queued: float = 0.0            # seconds in state 1 before running
    duration: float = 60.0         # seconds running, progress growing linearly
    stall_at: Optional[float] = None   # progress (0..1) where a running job stops moving
    waiting: bool = False          # never leaves state 2
    fail_at: float = 0.4           # progress where a failed or cancelled job stopped
    visible_after: float = 0.0     # seconds a new job answers {"job": null}
    licensed: bool = True          # a launch is refused with 422 when False
    error: str = "Snapshot of the VM failed: datastore ds-07 is out of space"
    wait_reason: str = "No free stream on media agent ma-02"


@dataclass
class Job:
    id: str
    kind: str                      # BACKUP or RESTORE
    host: str
    level: Optional[str]
    user: str
    created: float
    plan: Plan

    def state(self, now: float) -> Tuple[int, float]:
        """The state code and progress (0..1) at ``now``."""
        age = now - self.created
        plan = self.plan
        if plan.waiting:
            return 2, 0.0
        if age < plan.queued:
            return 1, 0.0
        running = age - plan.queued
        if plan.stall_at is not None:
            return 3, min(running / plan.duration, plan.stall_at)
        if running < plan.duration:
            return 3, running / plan.duration
        if plan.outcome in (8, 9):
            return plan.outcome, plan.fail_at
        return plan.outcome, 1.0

    @property
    def ends(self) -> Optional[float]:
        """When the job ends (epoch), or None for one that never does."""
        if self.plan.waiting or self.plan.stall_at is not None:
            return None
        return self.created + self.plan.queued + self.plan.duration

    def document(self, now: float) -> Dict[str, Any]:
        state, progress = self.state(now)
        ends = self.ends
        finished = ends is not None and now >= ends
        body: Dict[str, Any] = {
            "id": self.id, "type": self.kind, "host": {"name": self.host},
            "state": state, "progress": round(progress, 4),
            "elapsed": iso_duration((ends if finished and ends else now) - self.created),
            "startedAt": int(self.created * 1000),
            "launchedBy": {"user": self.user},
        }
        if finished and ends:
            body["endedAt"] = int(ends * 1000)
        if self.level:
            body["level"] = self.level
        if state in (1, 2):
            body["waitReason"] = self.plan.wait_reason
        if state in (7, 8):
            body["error"] = {"code": "E_JOB", "message": self.plan.error}
        return body


@dataclass
class Recorded:
    method: str
    path: str
    query: Dict[str, List[str]]
    content_type: Optional[str]
    body: bytes
    auth_header: bool


def seeded_fleet(now: float) -> List[Dict[str, Any]]:
    """Twelve VMs: eight fresh, one 50 h stale, one never backed up, one fresh whose last backup
    failed, one excluded, one unprotected (no protection group)."""
    hour = 3600.0
    vms: List[Dict[str, Any]] = []
    for number in range(1, 13):
        group = ("gold", "silver", "bronze")[number % 3]
        last_ok: Optional[float] = now - 6 * hour
        last = {"endedAt": iso_instant(now - 6 * hour + 0.25), "result": "SUCCESS"}
        protection = "PROTECTED"
        if number == 9:
            last_ok = now - 50 * hour
            last = {"endedAt": iso_instant(now - 50 * hour), "result": "SUCCESS"}
        elif number == 10:
            last_ok = None
            last = {"endedAt": iso_instant(now - 2 * hour), "result": "FAILED",
                    "message": "Guest tools not running"}
        elif number == 11:
            last = {"endedAt": iso_instant(now - 1 * hour), "result": "FAILED",
                    "message": "Snapshot quiescing failed"}
        elif number == 12:
            protection = "EXCLUDED"
        vm: Dict[str, Any] = {
            "id": str(uuid.UUID(int=number)), "name": f"vm-{number:03d}",
            "protectionGroup": {"name": group}, "protectionStatus": protection,
            "lastBackup": last,
            "lastSuccessfulBackupAt": None if last_ok is None else iso_instant(last_ok),
        }
        vms.append(vm)
    vms.append({"id": str(uuid.UUID(int=13)), "name": "vm-013", "protectionGroup": None,
                "protectionStatus": "UNPROTECTED", "lastBackup": None,
                "lastSuccessfulBackupAt": None})
    return vms


@dataclass
class ForeignApi:
    """The Tessera API on 127.0.0.1, threaded, one instance per test module or test."""

    username: str
    password: str
    clock: Callable[[], float] = time.time
    token_ttl: float = 3600.0
    faults: Dict[str, Any] = field(default_factory=dict)
    plans: Dict[str, Plan] = field(default_factory=dict)
    vms: Optional[List[Dict[str, Any]]] = None
    issued: List[str] = field(default_factory=list)
    requests: List[Recorded] = field(default_factory=list)
    jobs: Dict[str, Job] = field(default_factory=dict)
    tokens: Dict[str, float] = field(default_factory=dict)   # token -> expiry (epoch)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> ForeignApi:
        api = self

        class Handler(TesseraHandler):
            owner = api

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.plans.clear()
            self.vms = None
            self.requests.clear()
            self.jobs.clear()
            self.tokens.clear()

    def plan(self, host: str) -> Plan:
        return self.plans.get(host, Plan())

    # --- the API --------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: Dict[str, List[str]],
               headers: Dict[str, str], body: bytes) -> Tuple[int, Any]:
        """(status, document) for one request; a ``str`` document is sent as text/plain."""
        self.requests.append(Recorded(method, path, query, headers.get("content-type"), body,
                                      "authorization" in headers))
        if not path.startswith(PREFIX):
            return errors(404, "NOT_FOUND", f"No route {path}")
        route = path[len(PREFIX):] or "/"
        parts = [unquote(p) for p in route.strip("/").split("/")] if route != "/" else []
        now = self.clock()
        if parts == ["ping"] and method == "GET":
            return self.ping()
        if parts == ["health"] and method == "GET":
            return self.health()
        if parts == ["auth", "login"] and method == "POST":
            return self.login_json(headers, body, now)
        if parts == ["oauth", "token"] and method == "POST":
            return self.login_form(headers, body, now)
        if not self.authorised(headers, now):
            return errors(401, "UNAUTHENTICATED", "Missing, invalid or expired access token")
        if len(parts) == 3 and parts[0] == "hosts" and parts[2] == "backup" and method == "PUT":
            return self.backup(parts[1], query, now)
        if len(parts) == 3 and parts[0] == "hosts" and parts[2] == "restores" \
                and method == "POST":
            return self.restore(parts[1], headers, body, now)
        if parts == ["jobs"] and method == "GET":
            return self.job_list(query, now)
        if len(parts) == 2 and parts[0] == "jobs" and method == "GET":
            return self.job(parts[1], now)
        if parts == ["vms"] and method == "GET":
            return self.vm_page(query, now)
        return errors(405 if parts and parts[0] in ("ping", "health", "jobs", "vms", "hosts")
                      else 404, "NO_ROUTE", f"No route {method} {route}")

    def ping(self) -> Tuple[int, Any]:
        fault = self.faults.get("life")
        if fault == "maintenance":
            return errors(503, "MAINTENANCE", "Portal in maintenance until 14:00 UTC")
        if fault == "dead":
            return 200, {"data": {"alive": False, "version": "3.8.2",
                                  "reason": "scheduler thread stopped"}}
        return 200, {"data": {"alive": True, "version": "3.8.2"}}

    def health(self) -> Tuple[int, Any]:
        states: Dict[str, str] = self.faults.get("health", {})

        def node(name: str, spec: Any, prefix: str) -> Dict[str, Any]:
            full = prefix + name
            if isinstance(spec, dict) and spec and all(isinstance(v, dict) for v in spec.values()):
                children = {child: node(child, sub, full + ".") for child, sub in spec.items()}
                status = worst(c["status"] for c in children.values())
                return {"status": status, "components": children}
            status = states.get(full, "UP")
            out: Dict[str, Any] = {"status": status}
            details = dict(spec) if isinstance(spec, dict) else {}
            if status != "UP":
                details["error"] = f"{name}: connect timed out after 5000 ms"
            if details:
                out["details"] = details
            return out

        components = {name: node(name, spec, "") for name, spec in COMPONENTS.items()}
        overall = worst(c["status"] for c in components.values())
        status = 503 if overall in ("DOWN", "OUT_OF_SERVICE") else 200
        return status, {"status": overall, "components": components}

    def issue(self, now: float) -> Tuple[str, float]:
        token = "tsr_" + secrets.token_urlsafe(24)
        expiry = now + self.token_ttl
        with self._lock:
            self.issued.append(token)
            self.tokens[token] = expiry
        return token, expiry

    def login_json(self, headers: Dict[str, str], body: bytes, now: float) -> Tuple[int, Any]:
        if not (headers.get("content-type") or "").startswith("application/json"):
            return errors(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json")
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return errors(400, "MALFORMED_JSON", "The body is not JSON")
        if not isinstance(document, dict):
            return errors(400, "MALFORMED_JSON", "The body must be an object")
        unknown = sorted(set(document) - {"user", "pass"})
        if unknown:
            return errors(400, "UNKNOWN_FIELD", f"Unrecognized field \"{unknown[0]}\"")
        if self.faults.get("login") == "locked":
            return errors(403, "ACCOUNT_LOCKED", "Account locked after 5 failed attempts")
        if document.get("user") != self.username or document.get("pass") != self.password:
            return errors(401, "AUTH_FAILED", "Invalid user or password")
        token, expiry = self.issue(now)
        return 200, {"data": {"access_token": token, "token_type": "Bearer",
                              "expires_at": dotnet_instant(expiry)}}

    def login_form(self, headers: Dict[str, str], body: bytes, now: float) -> Tuple[int, Any]:
        if not (headers.get("content-type") or "").startswith(
                "application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request",
                         "error_description": "Send application/x-www-form-urlencoded"}
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if form.get("grant_type") != ["password"]:
            return 400, {"error": "unsupported_grant_type"}
        if form.get("username") != [self.username] or form.get("password") != [self.password]:
            return 400, {"error": "invalid_grant", "error_description": "Bad credentials"}
        token, expiry = self.issue(now)
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": int(expiry - now)}

    def authorised(self, headers: Dict[str, str], now: float) -> bool:
        value = headers.get("authorization", "")
        if not value.startswith("Bearer "):
            return False
        expiry = self.tokens.get(value[len("Bearer "):])
        return expiry is not None and expiry > now

    def launch(self, kind: str, host: str, level: Optional[str], now: float) -> Tuple[int, Any]:
        plan = self.plan(host)
        if not plan.licensed:
            return errors(422, "HOST_NOT_LICENSED",
                          f"Host {host} has no backup licence in tenant acme")
        job = Job(str(uuid.uuid4()), kind, host, level, self.username, now, plan)
        with self._lock:
            self.jobs[job.id] = job
        return 202, {"data": {"jobId": job.id, "state": 1}}

    def backup(self, host: str, query: Dict[str, List[str]], now: float) -> Tuple[int, Any]:
        level = query.get("level", [""])[0]
        if level not in LEVELS:
            return errors(400, "INVALID_PARAMETER",
                          f"level: '{level}' is not one of {', '.join(LEVELS)}")
        return self.launch("BACKUP", host, level, now)

    def restore(self, host: str, headers: Dict[str, str], body: bytes,
                now: float) -> Tuple[int, Any]:
        if not (headers.get("content-type") or "").startswith("application/json"):
            return errors(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json")
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return errors(400, "MALFORMED_JSON", "The body is not JSON")
        problem = restore_problem(document)
        if problem:
            return errors(400, "INVALID_BODY", problem)
        return self.launch("RESTORE", host, None, now)

    def job(self, job_id: str, now: float) -> Tuple[int, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            return errors(404, "JOB_NOT_FOUND", f"No job {job_id}")
        if now - job.created < job.plan.visible_after:
            return 200, {"data": {"job": None}}
        return 200, {"data": {"job": job.document(now)}}

    def job_list(self, query: Dict[str, List[str]], now: float) -> Tuple[int, Any]:
        kind = query.get("type", [""])[0]
        if kind not in ("BACKUP", "RESTORE"):
            return errors(400, "INVALID_PARAMETER",
                          f"type: '{kind}' is not one of BACKUP, RESTORE")
        after_text = query.get("startedAfter", [""])[0]
        after = parse_instant(after_text)
        if after is None:
            return errors(400, "INVALID_PARAMETER",
                          f"startedAfter: '{after_text}' is not an ISO 8601 instant")
        host = query.get("host", [None])[0]
        found = [j for j in self.jobs.values()
                 if j.kind == kind and j.created >= after and (host is None or j.host == host)
                 and now - j.created >= j.plan.visible_after]
        found.sort(key=lambda j: j.created, reverse=True)
        return 200, {"data": [j.document(now) for j in found], "links": {"next": None}}

    def vm_page(self, query: Dict[str, List[str]], now: float) -> Tuple[int, Any]:
        try:
            page = int(query.get("page", ["0"])[0])
            size = int(query.get("size", ["20"])[0])
        except ValueError:
            return errors(400, "INVALID_PARAMETER", "page and size are integers")
        if page < 0 or not 1 <= size <= 500:
            return errors(400, "INVALID_PARAMETER", "page >= 0, 1 <= size <= 500")
        vms = self.vms if self.vms is not None else seeded_fleet(now)
        pages = max(1, -(-len(vms) // size))
        content = vms[page * size:(page + 1) * size]
        return 200, {"content": content, "totalElements": len(vms), "totalPages": pages,
                     "number": page, "size": size, "numberOfElements": len(content),
                     "first": page == 0, "last": page >= pages - 1}


def restore_problem(document: Any) -> Optional[str]:
    """What is wrong with a restore body, as a strict (unknown fields refused) binder says it."""
    if not isinstance(document, dict):
        return "the body must be an object"
    unknown = sorted(set(document) - {"items", "target", "overwrite"})
    if unknown:
        return f"Unrecognized field \"{unknown[0]}\""
    items = document.get("items")
    if not isinstance(items, list) or not items:
        return "items: at least one item"
    for item in items:
        if not isinstance(item, dict) or set(item) != {"path"} or not str(item["path"]).startswith(
                "/"):
            return "items[].path: an absolute path, and nothing else"
    target = document.get("target")
    if not isinstance(target, dict) or set(target) - {"host", "directory"}:
        return "target: {host, directory}"
    if not isinstance(target.get("host"), str) or not str(target.get("directory", "")
                                                             ).startswith("/"):
        return "target.host and an absolute target.directory are required"
    if not isinstance(document.get("overwrite", False), bool):
        return "overwrite: a boolean"
    return None


def worst(statuses: Any) -> str:
    seen = list(statuses)
    for status in HEALTH_ORDER:
        if status in seen:
            return status
    return "UNKNOWN"


class TesseraHandler(BaseHTTPRequestHandler):
    owner: ForeignApi
    protocol_version = "HTTP/1.1"
    server_version = "Tessera/3.8.2"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, document = self.owner.answer(self.command, split.path,
                                                 parse_qs(split.query, keep_blank_values=True),
                                                 headers, body)
        except Exception as exc:   # noqa: BLE001 - a server fault is an answer, as in a real API
            status, document = errors(500, "INTERNAL", type(exc).__name__)
        if isinstance(document, str):
            payload, kind = document.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            payload, kind = json.dumps(document).encode("utf-8"), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


if __name__ == "__main__":   # for an operator's session by hand: password from $TESSERA_PASSWORD
    import os
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18300
    served = ForeignApi("svc-nagios", os.environ.get("TESSERA_PASSWORD", "")).start(port=port)
    print(served.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        served.stop()
