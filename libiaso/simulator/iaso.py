"""Our documented contract (docs/api-contract.md, docs/openapi.yaml), as the simulator serves it."""
from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Any, Dict, Optional, Pattern, Tuple

from .exchange import ENCODE, Answer, Backend, Request, Stream
from .inventory import EXCLUDED, Vm
from .jobs import DEFAULT_REASONS, describe
from .scenario import COMPONENTS

# (method, path under the prefix) -> role; what the hostile harnesses route by.
ROUTES = {("GET", "/life"): "life", ("GET", "/health"): "health", ("POST", "/login"): "login",
          ("POST", "/backups"): "backup", ("POST", "/jobs/status"): "job_status",
          ("POST", "/restores"): "restore", ("GET", "/jobs"): "job_list"}
PAGE_LIMIT = 1000          # VMs a page holds when the request names no limit
MAX_PAGE_LIMIT = 100000
JOB_WORDS = {"COMPLETED": "Completed", "FAILED": "Failed", "KILLED": "Killed",
             "FAILED_TO_START": "Failed to Start", "COMPLETED_WITH_ERRORS":
             "Completed w/ one or more errors", "NEVER_BACKED_UP": None}


class IasoContract:
    """Handlers of our contract; state (scenario, tokens, jobs, fleet) is the simulator's."""

    name = "iaso"
    default_prefix = "/api/v1"
    default_encoding = "plain"
    authenticated = ("backup", "restore", "job_status", "vm_list", "job_list")
    routes: Tuple[Tuple[str, Pattern[str], str], ...] = (
        *((method, re.compile(re.escape(path) + "$"), role)
          for (method, path), role in ROUTES.items()),
        ("GET", re.compile(r"/vms$"), "vm_list"))

    def __init__(self, sim: Backend) -> None:
        self.sim = sim

    # --- errors ------------------------------------------------------------------------------

    def error(self, status: int, message: str) -> Answer:
        return Answer(status, {"statusCode": status, "message": message})

    def fault_error(self, status: int) -> Answer:
        return self.error(status, f"simulated HTTP {status}")

    def unauthorised(self) -> Answer:
        return self.error(401, "token missing, invalid or expired")

    def authorised(self, headers: Any) -> bool:
        value = headers.get("Authorization", "")
        if not value.startswith("Bearer "):
            return False
        return self.sim.token_alive(value[len("Bearer "):], sliding=False)

    # --- the calls ---------------------------------------------------------------------------

    def life(self, request: Request) -> Answer:
        return Answer(200, {"statusCode": 200, "message": "IASO API is alive",
                            "version": "3.4.1"})

    def health(self, request: Request) -> Answer:
        scenario = self.sim.scenario
        components = []
        for name, kind in COMPONENTS:
            status = scenario.components.get(name, "healthy")
            entry = {"name": name, "type": kind, "status": status}
            if status != "healthy":
                entry["message"] = f"{name} does not answer its health probe"
            components.append(entry)
        for name, status in scenario.components.items():
            if name not in dict(COMPONENTS):
                components.append({"name": name, "type": "internal", "status": status})
        overall = "healthy" if all(c["status"] == "healthy" for c in components) else "unhealthy"
        return Answer(200, {"status": overall, "components": components})

    def login(self, request: Request) -> Answer:
        body, scenario = request.body, self.sim.scenario
        if scenario.reject_logins or not isinstance(body, dict) or not self.sim.credentials_match(
                body.get("username"), body.get("password"), self.default_encoding):
            return self.error(401, "KO")
        lifetime = scenario.token_lifetime
        token = _jwt(scenario.username, time.time() + lifetime)
        self.sim.issue_token(token, lifetime)
        return Answer(200, {"token": token, "expiresIn": int(lifetime)})

    def backup(self, request: Request) -> Answer:
        hostname, level = _fields(request.body, "hostname", "backupLevel")
        if not hostname or not level:
            return self.error(400, "hostname and backupLevel are required")
        refusal = self._refusal(hostname)
        if refusal:
            return refusal
        job = self.sim.jobs.start("backup", hostname, self.sim.scenario,
                                  {"level": level, "user": self.sim.scenario.username})
        return Answer(202, {"started": True, "jobId": job.job_id, "hostname": hostname})

    def restore(self, request: Request) -> Answer:
        hostname, file_name, path, destination = _fields(request.body, "hostname", "fileName",
                                                         "path", "destination")
        if not (hostname and file_name and path and destination):
            return self.error(400, "hostname, fileName, path and destination are required")
        refusal = self._refusal(hostname)
        if refusal:
            return refusal
        job = self.sim.jobs.start("restore", hostname, self.sim.scenario,
                                  {"user": self.sim.scenario.username, "fileName": file_name,
                                   "path": path, "destination": destination})
        return Answer(202, {"started": True, "jobId": job.job_id, "hostname": hostname})

    def job_list(self, request: Request) -> Answer:
        """``GET /jobs?hostname=&kind=&since=``: a host's jobs of one kind, newest first."""
        hostname = request.query.get("hostname") or ""
        kind = (request.query.get("kind") or "").lower()
        if not hostname or kind not in ("backup", "restore"):
            return self.error(400, "hostname and kind (backup or restore) are required")
        try:
            since = _epoch(request.query.get("since"))
        except ValueError as exc:
            return self.error(400, str(exc))
        jobs = []
        for job, elapsed, duration in self.sim.jobs.recent(kind, hostname, self.sim.scenario):
            document = describe(job, elapsed, duration)
            started = int(self.sim.clock() - elapsed / max(self.sim.scenario.job_speed, 1e-9))
            if since is not None and started < since:
                continue
            document.update({"kind": job.kind, "startTime": started,
                             "user": job.details.get("user", ""),
                             "level": job.details.get("level")})
            if job.kind == "restore":
                document.update({key: job.details.get(key)
                                 for key in ("fileName", "path", "destination")})
            jobs.append(document)
        return Answer(200, {"jobs": jobs})

    def job_status(self, request: Request) -> Answer:
        job_id, hostname = _fields(request.body, "jobId", "hostname")
        document = self.sim.jobs.status(job_id, str(hostname), self.sim.scenario)
        if document is None:
            return self.error(404, f"job {job_id} not found for {hostname}")
        return Answer(200, document)

    def vm_list(self, request: Request) -> Answer:
        """``GET /vms?limit=&offset=&since=``: one page of the fleet, streamed."""
        try:
            limit = _number(request.query, "limit", PAGE_LIMIT, 1, MAX_PAGE_LIMIT)
            offset = _number(request.query, "offset", 0, 0, None)
            since = _epoch(request.query.get("since"))
        except ValueError as exc:
            return self.error(400, str(exc))
        page = self.sim.page(offset, limit, since)
        total = page.total
        return Answer(200, Stream('{"total":' + str(total) + ',"vms":[', page.vms(vm_item),
                                  "]}", cut_after=page.cut_after))

    def _refusal(self, hostname: str) -> Optional[Answer]:
        plan = self.sim.scenario.plan(hostname)
        if plan.outcome != "refused":
            return None
        return self.error(400, plan.reason or DEFAULT_REASONS["refused"])


def vm_item(vm: Vm) -> Dict[str, Any]:
    """One VM of ``GET /vms`` (docs/openapi.yaml, VmList)."""
    return {"name": vm.name, "id": vm.uuid, "group": f"vmgroup-{vm.group + 1:02d}",
            "plan": f"plan-{vm.plan + 1:02d}", "company": f"tenant-{vm.company + 1:02d}",
            "protection": "excluded" if vm.kind == EXCLUDED else "protected",
            "lastBackup": {"time": vm.last_time, "lastSuccessTime": vm.last_success,
                           "status": JOB_WORDS.get(vm.last_status, vm.last_status),
                           "failureReason": vm.failure_reason}}


def _number(query: Any, name: str, default: int, low: int, high: Optional[int]) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    whole = raw.isascii() and raw.isdigit() and len(raw) <= 12
    if not whole or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"{low}..{high}" if high is not None else f"{low} or more"
        raise ValueError(f"{name} must be a whole number, {bound}")
    return int(raw)


def _epoch(raw: Optional[str]) -> Optional[float]:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("since must be an epoch time in seconds") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("since must be an epoch time in seconds")
    return value


def _fields(body: Any, *names: str) -> Tuple[Any, ...]:
    if not isinstance(body, dict):
        return tuple(None for _ in names)
    return tuple(body.get(name) for name in names)


def _jwt(subject: str, expires_at: float) -> str:
    def segment(document: Dict[str, Any]) -> str:
        raw = ENCODE(document).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    return ".".join((segment({"alg": "HS256", "typ": "JWT"}),
                     segment({"sub": subject, "exp": int(expires_at),
                              "jti": secrets.token_hex(8)}),
                     secrets.token_urlsafe(32)))
