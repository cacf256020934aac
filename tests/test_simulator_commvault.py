"""The commvault contract, three ways.

1. Every answer of the simulator's commvault contract, healthy and under every scenario fault,
   validates against docs/contracts/commvault-schemas.yaml: the schemas of Commvault's
   published API (OpenAPI3.yaml of Commvault/CVPowershellSDKV2, cvpysdk, Commvault's REST
   pages), written out in our words. No property outside those schemas is sent.
2. Every field path, call and word of the built-in commvault profile (COMMVAULT in
   libiaso/config/contracts.py) exists in those schemas: the profile is checked against
   Commvault's material, not only against our simulator.
3. The six probes against the commvault simulator with a ``{version: 2, base: commvault}``
   profile, healthy and with faults, each with the state docs/state-policy.md gives.
"""
from __future__ import annotations

import base64
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import jsonschema
import pytest
import requests
import yaml
from conftest import PASSWORD, ROOT, USERNAME, play, write_config

from iaso_probes import (
    check_iaso_auth,
    check_iaso_backup,
    check_iaso_health,
    check_iaso_life,
    check_iaso_response_time,
    check_iaso_restore,
)
from libiaso.config.contracts import COMMVAULT
from libiaso.config.settings import load_config
from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator

DOCUMENT: Dict[str, Any] = yaml.safe_load(
    (ROOT / "docs" / "contracts" / "commvault-schemas.yaml").read_text(encoding="utf-8"))
SCHEMAS: Dict[str, Any] = DOCUMENT["schemas"]
CALLS: Dict[str, Any] = DOCUMENT["calls"]
FAST = {"job_speed": 60, "job_duration": 60}          # a simulated job lasts one second
SUBCLIENTS = {7: "vm-a", 8: "vm-b"}
TIMEOUT = 10


# --- the schemas document ------------------------------------------------------------------------


def resolved(node: Any) -> Any:
    """The schema with every ``#/schemas/...`` reference replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            return resolved(SCHEMAS[node["$ref"].split("/")[-1]])
        return {key: resolved(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(value) for value in node]
    return node


def answer_schema(role: str, status: int) -> Optional[Dict[str, Any]]:
    """The schema of ``role``'s answer with HTTP ``status`` (None: the body is not read)."""
    answers = CALLS[role]["answers"]
    name = answers.get(str(status)) or CALLS["error"]["answers"]["default"]
    return None if name == "none" else resolved(SCHEMAS[name])


def undeclared(document: Any, schema: Dict[str, Any], where: str = "") -> List[str]:
    """Properties of ``document`` that ``schema`` does not declare (the simulator must not
    invent fields Commvault's material does not show)."""
    found: List[str] = []
    if isinstance(document, dict) and "properties" in schema:
        for key, value in document.items():
            if key not in schema["properties"]:
                found.append(f"{where}{key}")
            else:
                found += undeclared(value, schema["properties"][key], f"{where}{key}.")
    elif isinstance(document, list) and "items" in schema:
        for number, item in enumerate(document):
            found += undeclared(item, schema["items"], f"{where}{number}.")
    return found


def conforms(role: str, status: int, document: Any) -> None:
    schema = answer_schema(role, status)
    assert schema is not None, (role, status)
    jsonschema.validate(document, schema)
    assert undeclared(document, schema) == [], (role, status)


def walk(schema: Dict[str, Any], dotted: str) -> Dict[str, Any]:
    """The schema of the value at ``dotted`` (``a.0.b``), or an AssertionError naming the
    step that does not exist."""
    current = schema
    for part in dotted.split("."):
        if part.isdigit():
            assert current.get("type") == "array", f"{dotted}: {part} indexes a non-list"
            current = current["items"]
        else:
            assert part in current.get("properties", {}), f"{dotted}: no property {part!r}"
            current = current["properties"][part]
    return current


def path_of(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec["path"]


# --- the simulator -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def commvault() -> Iterator[Simulator]:
    sim = Simulator(scenario_from({"credentials": {"username": USERNAME,
                                                   "password": PASSWORD}}),
                    contract="commvault")
    sim.start("127.0.0.1", 0)
    yield sim
    sim.stop()


@pytest.fixture
def cv(commvault: Simulator) -> Iterator[Simulator]:
    """The commvault simulator with a clean scenario, counters, tokens and jobs."""
    play(commvault, {})
    commvault.reset()
    yield commvault
    play(commvault, {})


def scenario(**data: Any) -> Dict[str, Any]:
    return {"subclients": SUBCLIENTS, "clients": {"12": "vm-a"}, **FAST, **data}


def encoded_password() -> str:
    return base64.b64encode(PASSWORD.encode("utf-8")).decode("ascii")


def login(sim: Simulator) -> Dict[str, str]:
    answer = requests.post(sim.url + "/Login", timeout=TIMEOUT,
                           json={"username": USERNAME, "password": encoded_password()})
    return {"Authtoken": answer.json()["token"]}


def restore_body(tmp_path: Path, sim: Simulator) -> Any:
    """The CreateTask body the built-in profile sends, rendered by the profile itself."""
    config = write_config(tmp_path, sim.url, extra={"profile": {"version": 2,
                                                                "base": "commvault"}})
    endpoint = load_config(str(config)).environment(None).profile.endpoint("restore")
    return endpoint.render_body({"hostname": "vm-a", "file_name": "hosts",
                                 "source_path": "/etc", "destination": "/var/tmp/restore",
                                 "client_name": "vm-a", "subclient_id": 7,
                                 "backupset_name": "defaultBackupSet",
                                 "destination_client": "vm-b"})


def call(sim: Simulator, role: str, headers: Dict[str, str], body: Any = None,
         job_id: str = "41000", timeout: float = TIMEOUT) -> requests.Response:
    """One request of ``role`` as the commvault profile makes it."""
    url = sim.url
    requests_by_role = {
        "life": ("GET", url + "/", None),
        "login": ("POST", url + "/Login", {"username": USERNAME,
                                           "password": encoded_password()}),
        "health": ("GET", url + "/V4/mediaAgent", None),
        "backup": ("POST", url + "/Subclient/7/action/backup?backupLevel=Incremental", None),
        "job_status": ("GET", url + f"/Job/{job_id}", None),
        "restore": ("POST", url + "/CreateTask", body),
        "vm_list": ("GET", url + "/V4/VirtualMachines", None),
    }
    method, target, document = requests_by_role[role]
    return requests.request(method, target, json=document, headers=headers, timeout=timeout,
                            allow_redirects=False)


# --- 1. answers against the schemas --------------------------------------------------------------


def test_ok_healthy_answers_follow_the_schemas(cv: Simulator, tmp_path: Path) -> None:
    play(cv, scenario(inventory={"size": 50, "failed": 0.1, "stale": 0.1, "never": 0.1,
                                 "excluded": 0.1}))
    life = call(cv, "life", {})
    assert life.status_code == 200 and answer_schema("life", 200) is None
    answer = call(cv, "login", {})
    conforms("login", 200, answer.json())
    headers = {"Authtoken": answer.json()["token"]}
    for role in ("health", "vm_list"):
        answer = call(cv, role, headers)
        conforms(role, answer.status_code, answer.json())
    launched = [call(cv, "backup", headers), call(cv, "restore", headers,
                                                  restore_body(tmp_path, cv))]
    for role, answer in zip(("backup", "restore"), launched):
        assert answer.status_code == 200
        conforms(role, 200, answer.json())
    time.sleep(1.2)
    for answer in launched:
        job_id = answer.json()["jobIds"][0]
        status = call(cv, "job_status", headers, job_id=job_id)
        conforms("job_status", 200, status.json())
        summary = status.json()["jobs"][0]["jobSummary"]
        assert summary["jobId"] == int(job_id) and summary["status"] == "Completed"
        assert summary["percentComplete"] == 100 and summary["subclient"]["clientName"] == "vm-a"
    assert summary["destinationClient"]["clientName"] == "vm-b"


OUTCOMES: List[Tuple[Dict[str, Any], str, int]] = [   # plan -> the summary Commvault gives
    ({"outcome": "success"}, "Completed", 100),
    ({"outcome": "warnings"}, "Completed w/ one or more warnings", 100),
    ({"outcome": "errors"}, "Completed w/ one or more errors", 100),
    ({"outcome": "failed", "at_percent": 40}, "Failed", 40),
    ({"outcome": "killed", "at_percent": 10}, "Killed", 10),
    ({"outcome": "failed_to_start"}, "Failed to Start", 0),
    ({"outcome": "stuck", "at_percent": 30}, "Running", 30),
    ({"outcome": "pending", "reason": "no drive available"}, "Pending", 0),
]


@pytest.mark.parametrize("plan,status,percent", OUTCOMES,
                         ids=[f"ok-job-summary-{plan['outcome']}" for plan, _, _ in OUTCOMES])
def test_job_outcomes_in_commvault_words(cv: Simulator, plan: Dict[str, Any], status: str,
                                         percent: int) -> None:
    play(cv, scenario(hosts={"vm-a": plan}))
    headers = login(cv)
    job_id = call(cv, "backup", headers).json()["jobIds"][0]
    time.sleep(1.2)
    answer = call(cv, "job_status", headers, job_id=job_id).json()
    conforms("job_status", 200, answer)
    summary = answer["jobs"][0]["jobSummary"]
    assert (summary["status"], summary["percentComplete"]) == (status, percent)
    assert summary["subclient"] == {"clientName": "vm-a", "appName": "File System",
                                    "backupsetName": "defaultBackupSet",
                                    "subclientName": "default", "subclientId": 7}
    assert summary["pendingReason"] == ("no drive available" if status == "Pending" else "")
    assert (summary["jobEndTime"] == 0) == (status in ("Running", "Pending"))


def test_ok_job_invisible_for_two_polls_answers_no_record(cv: Simulator) -> None:
    play(cv, scenario(hosts={"vm-a": {"invisible_polls": 2}}))
    headers = login(cv)
    job_id = call(cv, "backup", headers).json()["jobIds"][0]
    answers = [call(cv, "job_status", headers, job_id=job_id).json() for _ in range(3)]
    for answer in answers:
        conforms("job_status", 200, answer)
    assert [a["totalRecordsWithoutPaging"] for a in answers] == [0, 0, 1]
    assert "jobs" not in answers[0]
    unknown = call(cv, "job_status", headers, job_id="999999")
    assert unknown.status_code == 200 and unknown.json() == {"totalRecordsWithoutPaging": 0}


def test_crit_refusals_are_http_200_with_the_reason(cv: Simulator, tmp_path: Path) -> None:
    play(cv, scenario(hosts={"vm-a": {"outcome": "refused", "reason": "Client not licensed"}}))
    headers = login(cv)
    for role, body in (("backup", None), ("restore", restore_body(tmp_path, cv))):
        answer = call(cv, role, headers, body)
        assert answer.status_code == 200
        conforms(role, 200, answer.json())
        assert answer.json() == {"errorCode": 2, "errorMessage": "Client not licensed"}
    level = requests.post(cv.url + "/Subclient/7/action/backup?backupLevel=Weekly",
                          headers=headers, timeout=TIMEOUT)
    conforms("backup", 200, level.json())
    assert level.json()["errorMessage"] == "Invalid backup level [Weekly]"
    wrong = call(cv, "restore", headers, {"taskInfo": {"associations": []}})
    assert wrong.status_code == 500
    conforms("restore", 500, wrong.json())
    assert wrong.json() == {"errorCode": 587203993, "errorMessage": "Failed to run task."}
    assert cv.counters["backup"] == 2 and not cv.jobs.snapshot(41000, None, cv.scenario)


@pytest.mark.parametrize("password,reject", [("wrong", False), (None, True)],
                         ids=["crit-login-wrong-password", "crit-login-rejected"])
def test_login_refused_is_http_200_with_errlist(cv: Simulator, password: Optional[str],
                                                reject: bool) -> None:
    play(cv, scenario(reject_logins=reject))
    sent = base64.b64encode((password or PASSWORD).encode()).decode()
    answer = requests.post(cv.url + "/Login", json={"username": USERNAME, "password": sent},
                           timeout=TIMEOUT)
    assert answer.status_code == 200
    conforms("login", 200, answer.json())
    assert "token" not in answer.json()
    assert answer.json()["errList"][0]["errLogMessage"] == "Invalid username or password"
    plain = requests.post(cv.url + "/Login", json={"username": USERNAME, "password": PASSWORD},
                          timeout=TIMEOUT)
    assert "token" not in plain.json()   # Commvault's login takes the password base64-encoded


def test_crit_missing_or_expired_token_is_401_access_denied(cv: Simulator) -> None:
    clock = [1000.0]
    cv.monotonic = lambda: clock[0]
    try:
        play(cv, scenario(token_lifetime=100))
        for role in ("health", "backup", "job_status", "vm_list"):
            answer = call(cv, role, {})
            assert answer.status_code == 401 and answer.json() == {
                "errorCode": 5, "errorMessage": "Access denied"}, role
            conforms(role, 401, answer.json())
        headers = login(cv)
        for moment in (1090.0, 1180.0, 1270.0):   # each use keeps the token 100 s more
            clock[0] = moment
            assert call(cv, "health", headers).status_code == 200, moment
        clock[0] = 1370.0
        expired = call(cv, "health", headers)
        assert expired.status_code == 401 and expired.json()["errorCode"] == 5
    finally:
        cv.monotonic = time.monotonic


def test_ok_media_agents_from_the_scenario_components(cv: Simulator) -> None:
    play(cv, scenario(components={"media_agent_1": "maintenance", "media_agent_2": "unhealthy",
                                  "ma03": "healthy"}))
    answer = call(cv, "health", login(cv)).json()
    conforms("health", 200, answer)
    agents = {a["name"]: a for a in answer["mediaAgents"]}
    assert [(n, a["status"]) for n, a in agents.items()] == [
        ("media_agent_1", "MAINTENANCE"), ("media_agent_2", "OFFLINE"), ("ma03", "ONLINE")]
    assert agents["media_agent_2"]["offlineReason"] and "offlineReason" not in agents["ma03"]


# Every endpoint fault of the scenario, on every call of the contract.
ROLES = ("life", "login", "health", "backup", "job_status", "restore", "vm_list")
FAULTS: Dict[str, Dict[str, Any]] = {
    "status-503": {"status": 503},
    "status-401": {"status": 401},
    "status-203": {"status": 203},
    "latency": {"latency": 0.2},
    "redirect": {"redirect": "http://127.0.0.2:9/elsewhere", "redirect_status": 307},
    "hang": {"hang": True},
    "html": {"body": "html"},
    "malformed": {"body": "malformed"},
    "empty": {"body": "empty"},
    "truncated": {"body": "truncated"},
    "list": {"body": "list"},
    "huge": {"body": "huge", "huge_bytes": 2 * 1024 * 1024},
    "json": {"body": {"json": {"anything": ["at", "all"]}}},
    "raw": {"body": {"raw": "OK"}, "content_type": "text/plain"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(FAULTS))
def test_every_fault_on_every_commvault_call(cv: Simulator, tmp_path: Path, role: str,
                                             name: str) -> None:
    play(cv, scenario(endpoints={role: FAULTS[name]}, inventory={"size": 30}))
    headers = {} if role in ("life", "login") else login(cv)
    job_id = "41000"
    if role == "job_status":
        play(cv, scenario(inventory={"size": 30}))
        job_id = call(cv, "backup", headers).json()["jobIds"][0]
        play(cv, scenario(endpoints={role: FAULTS[name]}, inventory={"size": 30}))
    body = restore_body(tmp_path, cv) if role == "restore" else None
    if name == "hang":
        with pytest.raises(requests.exceptions.ReadTimeout):
            call(cv, role, headers, body, job_id, timeout=0.5)
        return
    if name == "truncated":
        with pytest.raises(requests.exceptions.RequestException):
            call(cv, role, headers, body, job_id)
        return
    started = time.monotonic()
    answer = call(cv, role, headers, body, job_id)
    status, raw = answer.status_code, answer.content
    if name.startswith("status-"):
        assert status == int(name[-3:])
        if status == 401:
            assert answer.json() == {"errorCode": 5, "errorMessage": "Access denied"}
        if status >= 400:
            conforms("error", status, answer.json())
            return
    elif name == "redirect":
        assert (status, answer.headers["Location"]) == (307, "http://127.0.0.2:9/elsewhere")
        return
    elif name == "html":
        assert raw.startswith(b"<!DOCTYPE html>") and "text/html" in answer.headers[
            "Content-Type"]
        return
    elif name == "malformed":
        with pytest.raises(ValueError):
            answer.json()
        return
    elif name == "empty":
        assert raw == b""
        return
    elif name == "huge":
        assert len(raw) == 2 * 1024 * 1024 and not raw.strip()
        return
    elif name == "json":
        assert answer.json() == {"anything": ["at", "all"]}
        return
    elif name == "raw":
        assert raw == b"OK" and answer.headers["Content-Type"] == "text/plain"
        return
    elif name == "latency":
        assert time.monotonic() - started >= 0.2
    document: Any = answer.text if role == "life" else answer.json()
    if name == "list":
        assert isinstance(answer.json(), list) and len(answer.json()) == 1
        document = answer.json()[0]
    if role == "life":
        assert document == "Commvault REST API"
    else:
        conforms(role, 200, document)


def test_inventory_faults_keep_the_published_shape(cv: Simulator) -> None:
    """Duplicates, future times and a count that disagrees all validate; a cut listing is
    cut; the paging faults do not touch an answer that has no paging."""
    base = {"size": 40, "start": 1_700_000_000}
    cv.clock = lambda: 1_700_003_600.0
    try:
        play(cv, scenario(inventory=base))
        headers = login(cv)
        healthy = call(cv, "vm_list", headers).json()
        conforms("vm_list", 200, healthy)
        assert healthy["virtualMachinesCount"] == len(healthy["virtualMachines"]) == 40
        play(cv, scenario(inventory=dict(base, faults={"duplicates": 2, "future": 3,
                                                       "total_drift": -5})))
        faulty = call(cv, "vm_list", headers).json()
        conforms("vm_list", 200, faulty)
        names = [vm["name"] for vm in faulty["virtualMachines"]]
        assert len(names) == 42 and len(set(names)) == 40
        assert faulty["virtualMachinesCount"] == 37
        future = [vm for vm in faulty["virtualMachines"]
                  if vm["lastBackup"].get("time", 0) > 1_700_003_600]
        assert len({vm["name"] for vm in future}) == 3
        play(cv, scenario(inventory=dict(base, faults={"overlap": 5, "repeat_pages": [2]})))
        assert call(cv, "vm_list", headers).json() == healthy
        play(cv, scenario(inventory=dict(base, faults={"cut_at": 25})))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            call(cv, "vm_list", headers)
    finally:
        cv.clock = time.time


# --- 2. the built-in commvault profile against the schemas ---------------------------------------


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


@pytest.mark.parametrize("role", list(COMMVAULT["endpoints"]))
def test_ok_commvault_profile_names_published_calls_and_fields(role: str) -> None:
    endpoint = COMMVAULT["endpoints"][role]
    documented = CALLS[role]["call"]
    method, _, path = documented.partition(" ")
    assert (endpoint["method"], _template(endpoint["path"])) == (method, _template(path))
    for name in endpoint.get("query", {}):
        assert f"{name}=" in path, (role, name)
    schema = answer_schema(role, 200)
    fields = endpoint.get("fields", {})
    if schema is None:
        assert endpoint.get("answer") == "none" and not fields
        return
    assert schema is not None
    containers = {"health": "components", "vm_list": "items", "job_list": "items"}
    item_schema: Optional[Dict[str, Any]] = walk(
        schema, path_of(fields[containers[role]]))["items"] if role in containers else None
    for name, spec in fields.items():
        container = schema
        if item_schema is not None and name not in ("components", "items", "total", "next"):
            container = item_schema
        where = walk(container, path_of(spec))
        assert where, (role, name)
        if isinstance(spec, dict) and spec.get("type") == "time":
            assert where.get("type") == "integer", (role, name)   # epoch seconds
    for rule in ("success", "failure", "not_visible"):
        if isinstance(endpoint.get(rule), dict) and "field" in endpoint[rule]:
            assert endpoint[rule]["field"] in fields, (role, rule)


def test_ok_every_media_agent_status_word_is_mapped() -> None:
    words = walk(resolved(SCHEMAS["MediaAgentListAnswer"]), "mediaAgents.0.status")["enum"]
    assert set(COMMVAULT["endpoints"]["health"]["states"]) == set(words)


def test_ok_commvault_token_is_sent_as_given() -> None:
    auth = COMMVAULT["auth"]
    assert (auth["header"], auth["prefix"], auth["password_encoding"]) == (
        "Authtoken", "", "base64")
    assert SCHEMAS["LoginAnswer"]["properties"]["token"]["pattern"].startswith("^QSDK ")


# --- 3. the six probes against the commvault simulator -------------------------------------------


PROBES = {"life": check_iaso_life.probe, "health": check_iaso_health.probe,
          "response_time": check_iaso_response_time.probe, "auth": check_iaso_auth.probe,
          "backup": check_iaso_backup.probe, "restore": check_iaso_restore.probe}
STATES = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}
WAIT = ("--wait", "-t", "8")


@dataclass
class Case:
    id: str
    probe: str
    args: Tuple[str, ...]
    first_line: str
    scenario: Dict[str, Any] = field(default_factory=dict)
    long_output: str = ""
    closed_port: bool = False

    @property
    def code(self) -> int:
        return STATES[self.id.split("-", 1)[0]]


def hosts(**plans: Any) -> Dict[str, Any]:
    return {"hosts": plans}


CASES: List[Case] = [
    Case("ok-life-alive", "life", (), r"^IASO LIFE OK - lab: answered in \d\.\d{3} s \| "),
    Case("crit-life-http-503", "life", (),
         r"^IASO LIFE CRITICAL - lab: http://127\.0\.0\.1:\d+/webconsole/api/ answered HTTP 503: "
         r"simulated HTTP 503 \| ", {"endpoints": {"life": {"status": 503}}}),
    Case("crit-life-down", "life", (),
         r"^IASO LIFE CRITICAL - lab: cannot connect to http://127\.0\.0\.1:\d+/webconsole/api/: "
         r"connection refused", closed_port=True),
    Case("ok-health-media-agents-online", "health", (),
         r"^IASO HEALTH OK - lab: all 2 components healthy \(\d\.\d{3} s\) \| ",
         long_output=r"\nOK media_agent_1: ONLINE\nOK media_agent_2: ONLINE"),
    Case("crit-health-media-agent-offline", "health", (),
         r"^IASO HEALTH CRITICAL - lab: 1 of 2 components unhealthy: media_agent_2 \(OFFLINE\)",
         {"components": {"media_agent_2": "unhealthy"}},
         long_output=r"\nCRITICAL media_agent_2: OFFLINE \(media_agent_2 does not answer"),
    Case("warn-health-media-agent-in-maintenance", "health", (),
         r"^IASO HEALTH WARNING - lab: 1 of 2 components unhealthy: media_agent_1 "
         r"\(MAINTENANCE\)", {"components": {"media_agent_1": "maintenance"}},
         long_output=r"\nWARNING media_agent_1: MAINTENANCE \(media_agent_1 is in maintenance"),
    Case("crit-health-token-expired-at-once", "health", (),
         r"^IASO HEALTH CRITICAL - lab: \S+/V4/mediaAgent answered HTTP 401: Access denied",
         {"token_lifetime": 0}),
    Case("ok-response-time", "response_time", ("-n", "3", "-w", "1", "-c", "2"),
         r"^IASO RESPONSE TIME OK - lab: life answered 3 times in \d\.\d{3} s on average"),
    Case("ok-auth-accepted", "auth", (),
         r"^IASO AUTH OK - lab: login as nagios accepted in \d\.\d{3} s \| login_time=",
         long_output=r"the token's lifetime is unknown"),
    Case("crit-auth-refused-with-errlist", "auth", (),
         r"^IASO AUTH CRITICAL - lab: login as nagios answered HTTP 200 without a token "
         r"\(field 'token'\): Invalid username or password \| ", {"reject_logins": True}),
    Case("ok-backup-completes", "backup", ("-S", "linux", *WAIT),
         r"^IASO BACKUP OK - lab: 1 of 1 backup completed",
         long_output=r"\nOK vm-a \(job 4\d+\): Completed at 100 %"),
    Case("crit-backup-refused-with-errormessage", "backup", ("-S", "linux", *WAIT),
         r"^IASO BACKUP CRITICAL - lab: 1 of 1 backup failed: vm-a \(backup not started: the "
         r"backup of vm-a did not start \(the API answered Client not licensed\)\)",
         hosts(**{"vm-a": {"outcome": "refused", "reason": "Client not licensed"}})),
    Case("ok-backup-job-invisible-for-two-polls", "backup", ("-S", "linux", *WAIT),
         r"^IASO BACKUP OK - lab: 1 of 1 backup completed",
         hosts(**{"vm-a": {"invisible_polls": 2}})),
    Case("crit-backup-job-failed", "backup", ("-S", "linux", *WAIT),
         r"^IASO BACKUP CRITICAL - lab: 1 of 1 backup failed: vm-a \(Failed\) \| ",
         hosts(**{"vm-a": {"outcome": "failed", "at_percent": 40}}),
         long_output=r"\nCRITICAL vm-a \(job 4\d+\): Failed at 40 %"),
    Case("crit-backup-login-refused", "backup", ("-S", "linux", *WAIT),
         r"^IASO BACKUP CRITICAL - lab: login as nagios answered HTTP 200 without a token "
         r"\(field 'token'\): Invalid username or password", {"reject_logins": True}),
    Case("ok-restore-completed", "restore", ("-R", "hosts-file", *WAIT),
         r"^IASO RESTORE OK - lab: 1 of 1 restore completed"),
    Case("crit-restore-job-failed", "restore", ("-R", "hosts-file", *WAIT),
         r"^IASO RESTORE CRITICAL - lab: 1 of 1 restore failed: vm-a \(Failed\)",
         hosts(**{"vm-a": {"outcome": "failed", "at_percent": 70}})),
]


def commvault_config(tmp_path: Path, base_url: str) -> Path:
    return write_config(tmp_path, base_url, extra={
        "profile": {"version": 2, "base": "commvault"},
        "jobs": {"state_dir": str(tmp_path / "state"), "poll_interval": 0.2,
                 "max_poll_interval": 1},
        "backup_sets": {"linux": [{"hostname": "vm-a", "level": "incremental",
                                   "params": {"subclient_id": 7, "client_id": 12}}]},
        "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                    "source_path": "/etc", "destination": "/var/tmp/restore",
                                    "params": {"client_name": "vm-a", "subclient_id": 7,
                                               "client_id": 12,
                                               "backupset_name": "defaultBackupSet",
                                               "destination_client": "vm-b"}}},
    })


def closed_port_url() -> str:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    return f"http://127.0.0.1:{port}/webconsole/api"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_probe_against_commvault(case: Case, cv: Simulator, tmp_path: Path) -> None:
    play(cv, scenario(**case.scenario))
    config = commvault_config(tmp_path, closed_port_url() if case.closed_port else cv.url)
    outcome = PROBES[case.probe].run(["-C", str(config), *case.args])
    assert outcome.code == case.code, outcome.output
    assert re.search(case.first_line, outcome.first_line), outcome.output
    if case.long_output:
        assert re.search(case.long_output, outcome.output, re.S), outcome.output
    assert "Traceback" not in outcome.output and len(outcome.output.encode()) < 4096
    assert PASSWORD not in outcome.output and encoded_password() not in outcome.output
    assert not any(token in outcome.output for token in cv.issued)
