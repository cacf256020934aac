"""Commvault's own REST API, the calls the commvault profile makes (docs/contracts/commvault.md).

Shapes follow Commvault's published material as docs/contracts/commvault-schemas.yaml records
it: a refused login or launch is HTTP 200 with an error in the body, a missing or expired token
is 401 ``{"errorCode": 5, "errorMessage": "Access denied"}``, job IDs are texts in launch
answers and numbers in job summaries, an unknown job is HTTP 200 with no record, and the VM list
has no paging. The token lives ``token_lifetime`` seconds from its last use (Commvault's
"30 minutes of inactivity").
"""
from __future__ import annotations

import re
import secrets
from typing import Any, Dict, List, Optional, Pattern, Tuple

from .exchange import Answer, Backend, Request, Stream
from .inventory import EXCLUDED, FAILED, NEVER, STALE, Vm
from .jobs import DEFAULT_REASONS, job_summary

MEDIA_AGENTS = ("media_agent_1", "media_agent_2")
MEDIA_AGENT_STATES = {"healthy": "ONLINE", "unhealthy": "OFFLINE", "maintenance": "MAINTENANCE",
                      "online": "ONLINE", "offline": "OFFLINE"}
BACKUP_LEVELS = {"full": "Full", "incremental": "Incremental", "differential": "Differential",
                 "synthetic_full": "Synthetic Full", "synthfull": "Synthetic Full"}
ACCESS_DENIED = {"errorCode": 5, "errorMessage": "Access denied"}
TASK_FAILED = {"errorCode": 587203993, "errorMessage": "Failed to run task."}
REFUSED_CODE = 2
VM_STATUS = {FAILED: "BACKED_UP_WITH_ERROR", NEVER: "PENDING", EXCLUDED: "NOT_PROTECTED"}
SLA = {FAILED: ("MISSED_SLA", "The last backup failed"),
       STALE: ("MISSED_SLA", "No successful backup within the SLA period"),
       NEVER: ("YET_TO_BE_PROTECTED", "The VM has not been backed up yet"),
       EXCLUDED: ("EXCLUDED_SLA", "Excluded from the SLA by its owner")}


class CommvaultContract:
    """Handlers of Commvault's API; state (scenario, tokens, jobs, fleet) is the simulator's."""

    name = "commvault"
    default_prefix = "/webconsole/api"
    default_encoding = "base64"
    authenticated = ("health", "backup", "restore", "job_status", "vm_list", "job_list")
    routes: Tuple[Tuple[str, Pattern[str], str], ...] = (
        ("GET", re.compile(r"/?$"), "life"),
        ("POST", re.compile(r"/Login$"), "login"),
        ("GET", re.compile(r"/V4/mediaAgent$"), "health"),
        ("POST", re.compile(r"/Subclient/(?P<subclient>[^/]+)/action/backup$"), "backup"),
        ("GET", re.compile(r"/Job/(?P<job>[^/]+)$"), "job_status"),
        ("GET", re.compile(r"/Job$"), "job_list"),
        ("POST", re.compile(r"/CreateTask$"), "restore"),
        ("GET", re.compile(r"/V4/VirtualMachines$"), "vm_list"),
    )

    def __init__(self, sim: Backend) -> None:
        self.sim = sim

    # --- errors ------------------------------------------------------------------------------

    def error(self, status: int, message: str) -> Answer:
        return Answer(status, {"errorCode": status, "errorMessage": message})

    def fault_error(self, status: int) -> Answer:
        if status == 401:
            return self.unauthorised()
        return self.error(status, f"simulated HTTP {status}")

    def unauthorised(self) -> Answer:
        return Answer(401, dict(ACCESS_DENIED))

    def authorised(self, headers: Any) -> bool:
        return self.sim.token_alive(headers.get("Authtoken", ""), sliding=True)

    # --- the calls ---------------------------------------------------------------------------

    def life(self, request: Request) -> Answer:
        """``GET /``: the web service answers 200; Commvault documents no body, so a short
        text stands in for it."""
        return Answer(200, "Commvault REST API", "text/plain")

    def health(self, request: Request) -> Answer:
        """``GET /V4/mediaAgent``: the scenario's components as MediaAgents."""
        states = self.sim.scenario.components
        names: List[str] = list(MEDIA_AGENTS) + [n for n in states if n not in MEDIA_AGENTS]
        agents = []
        for number, name in enumerate(names, start=1):
            word = states.get(name, "healthy")
            status = MEDIA_AGENT_STATES.get(word.lower(), word)
            agent: Dict[str, Any] = {
                "id": number, "name": name, "displayName": name, "status": status,
                "isUnlicensedMA": False, "version": "11.32.40",
                "operatingSystem": {"id": 1, "name": "Linux", "type": "UNIX"},
                "company": {"id": 0, "name": "CommCell"}}
            if status != "ONLINE":
                agent["offlineReason"] = (f"{name} is in maintenance mode"
                                          if status == "MAINTENANCE"
                                          else f"{name} does not answer: services are down")
                agent["offlineReasonValue"] = 2 if status == "MAINTENANCE" else 1
            agents.append(agent)
        return Answer(200, {"mediaAgents": agents})

    def login(self, request: Request) -> Answer:
        """``POST /Login``: base64 password; a refusal is HTTP 200 with errList, no token."""
        body, scenario = request.body, self.sim.scenario
        if scenario.reject_logins or not isinstance(body, dict) or not self.sim.credentials_match(
                body.get("username"), body.get("password"), self.default_encoding):
            return Answer(200, {"errList": [{"errorCode": 1, "errLogMessage":
                                             "Invalid username or password"}],
                                "loginAttempts": 1, "remainingLockTime": 0,
                                "isAccountLocked": False})
        token = "QSDK " + secrets.token_hex(64)
        self.sim.issue_token(token, scenario.token_lifetime)
        return Answer(200, {"token": token, "userName": scenario.username,
                            "userGUID": secrets.token_hex(16).upper(), "loginAttempts": 0,
                            "remainingLockTime": 0, "isAccountLocked": False,
                            "forcePasswordChange": False, "providerType": 1, "capability": 4})

    def backup(self, request: Request) -> Answer:
        """``POST /Subclient/{id}/action/backup?backupLevel=``, no body."""
        subclient = request.params["subclient"]
        if not subclient.isdigit():
            return Answer(200, {"errorCode": REFUSED_CODE,
                                "errorMessage": f"Subclient {subclient} is not a subclient id"})
        word = request.query.get("backupLevel", "Incremental") or "Incremental"
        level = BACKUP_LEVELS.get(word.strip().lower().replace(" ", "_"))
        if level is None:
            return Answer(200, {"errorCode": REFUSED_CODE,
                                "errorMessage": f"Invalid backup level [{word}]"})
        scenario = self.sim.scenario
        client = scenario.client_of(str(int(subclient)))
        refusal = self._refusal(client)
        if refusal:
            return refusal
        job = self.sim.jobs.start("backup", client, scenario,
                                  {"level": level, "subclient": str(int(subclient)),
                                   "user": scenario.username})
        return Answer(200, {"taskId": job.job_id - 40000, "jobIds": [str(job.job_id)]})

    def restore(self, request: Request) -> Answer:
        """``POST /CreateTask``: a restore of files to another client and path."""
        found = _restore_request(request.body)
        if found is None:
            return Answer(500, dict(TASK_FAILED))
        client, subclient, backupset, destination = found
        refusal = self._refusal(client)
        if refusal:
            return refusal
        job = self.sim.jobs.start("restore", client, self.sim.scenario,
                                  {"subclient": subclient, "backupset": backupset,
                                   "destination": destination,
                                   "user": self.sim.scenario.username})
        return Answer(200, {"taskId": job.job_id - 40000, "jobIds": [str(job.job_id)]})

    def job_status(self, request: Request) -> Answer:
        """``GET /Job/{jobId}``: one record, or none for an unknown or not yet visible job."""
        seen = self.sim.jobs.snapshot(request.params["job"], None, self.sim.scenario)
        if seen is None:
            return Answer(200, {"totalRecordsWithoutPaging": 0})
        summary = job_summary(*seen, now=self.sim.clock)
        return Answer(200, {"totalRecordsWithoutPaging": 1, "jobs": [{"jobSummary": summary}]})

    def job_list(self, request: Request) -> Answer:
        """``GET /Job?clientId=&jobFilter=&completedJobLookupTime=``: a client's jobs of one type,
        active or finished within the lookup time (seconds), newest first."""
        client_id = request.query.get("clientId") or ""
        job_type = (request.query.get("jobFilter") or "Backup").strip().lower()
        lookup = request.query.get("completedJobLookupTime") or str(365 * 86400)
        if not client_id.isdigit() or job_type not in ("backup", "restore") \
                or not lookup.isdigit():
            return Answer(200, {"totalRecordsWithoutPaging": 0})
        scenario = self.sim.scenario
        client = scenario.client_named(client_id)
        jobs = []
        for seen in self.sim.jobs.recent(job_type, client, scenario):
            summary = job_summary(*seen, now=self.sim.clock)
            ended = summary["jobEndTime"]
            if ended and ended < self.sim.clock() - int(lookup):
                continue
            summary["userName"] = {"userName": seen[0].details.get("user", ""), "userId": 1}
            jobs.append({"jobSummary": summary})
        return Answer(200, {"totalRecordsWithoutPaging": len(jobs), "jobs": jobs})

    def vm_list(self, request: Request) -> Answer:
        """``GET /V4/VirtualMachines``: the whole fleet in one answer, streamed."""
        page = self.sim.page(0, None, None)
        return Answer(200, Stream('{"virtualMachinesCount":' + str(page.total)
                                  + ',"virtualMachines":[', page.vms(vm_summary), "]}",
                                  cut_after=page.cut_after))

    def _refusal(self, client: str) -> Optional[Answer]:
        plan = self.sim.scenario.plan(client)
        if plan.outcome != "refused":
            return None
        return Answer(200, {"errorCode": REFUSED_CODE,
                            "errorMessage": plan.reason or DEFAULT_REASONS["refused"]})


def _restore_request(body: Any) -> Optional[Tuple[str, str, str, str]]:
    """Source client, subclient, backup set and destination client of a CreateTask restore
    body, or None when it is not one (Commvault answers 500 "Failed to run task.")."""
    try:
        info = body["taskInfo"]
        association = info["associations"][0]
        options = info["subTasks"][0]["options"]["restoreOptions"]
        destination = options["destination"]["destClient"]["clientName"]
        paths = options["destination"]["destPath"]
        items = options["fileOption"]["sourceItem"]
        client = association["clientName"]
    except (KeyError, IndexError, TypeError):
        return None
    texts = (client, destination)
    if not all(isinstance(t, str) and t for t in texts) or not _texts(paths) \
            or not _texts(items):
        return None
    return (client, str(association.get("subclientId", "")),
            str(association.get("backupsetName", "defaultBackupSet")), destination)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, str) and v for v in value)


def vm_summary(vm: Vm) -> Dict[str, Any]:
    """One VM of ``GET /V4/VirtualMachines`` (VirtualMachineSummary)."""
    group, plan, company = vm.group + 1, vm.plan + 1, vm.company + 1
    last: Dict[str, Any] = {"status": vm.last_status}
    if vm.last_time is not None:
        last = {"time": vm.last_time, "jobId": vm.job_id, "status": vm.last_status,
                "lastSuccessfulBackupTime": vm.last_success,
                "failureReason": vm.failure_reason or ""}
    sla, reason = SLA.get(vm.kind, ("MET_SLA", ""))
    return {"name": vm.name, "UUID": vm.uuid, "vendor": "VMW",
            "host": f"esx-{vm.host + 1:02d}.example.net", "os": vm.os,
            "hypervisor": {"id": 40 + vm.host // 8, "name": f"vcenter-{vm.host // 8 + 1:02d}"},
            "vmGroup": {"id": group, "name": f"vmgroup-{group:02d}"},
            "status": VM_STATUS.get(vm.kind, "PROTECTED"),
            "vmSize": vm.size, "applicationSize": vm.size // 3,
            "lastBackup": last, "SLA": {"status": sla, "reason": reason},
            "plan": {"id": plan, "name": f"plan-{plan:02d}"},
            "company": {"id": company, "name": f"tenant-{company:02d}"}}
