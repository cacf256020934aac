"""Alert to ticket in a real Icinga 2 (Debian's icinga2, a private instance with its API,
tests/icinga2_core.py) running the shipped etc/icinga2/iaso-notifications.conf, into the same
real Request Tracker 5 through REST, and back: the acknowledgement posted to Icinga 2's API.

Icinga 2 has no problem ID; the key of etc/icinga2/iaso-notifications.conf is the time of the
last OK check before the problem. A second notification rule logs the attributes the core
holds at each notification, so the tests show that key stable through a problem (where
last_hard_state_change is not) and new for the next one.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple

import pytest
import yaml
from conftest import require_core
from icinga2_core import BINARY, SYNC_USER, IcingaCore
from icinga_core import ROOT
from rt_desk import RequestTracker, require_rt

require_core(BINARY, "icinga2-bin icinga2-common")
require_rt()

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
HOST = "desk-icinga"
ORIGIN = "icinga2-e2e"
SYNC_PASSWORD = "sync-password-from-a-file"

OBJECTS = """
object Host "desk-icinga" {{
  check_command = "dummy"
  enable_active_checks = false
  max_check_attempts = 1
  vars.iaso_env = "test"
}}
{services}
object NotificationCommand "log-attributes" {{
  command = [ "/bin/sh", "-c", "printf '%s\\\\n' \\"$$1\\" >> {log}", "log", "{line}" ]
}}
object User "attribute-log" {{
  states = [ OK, Warning, Critical, Unknown, Up, Down ]
  types = [ Problem, Recovery, Acknowledgement, Custom, FlappingStart, FlappingEnd,
            DowntimeStart, DowntimeEnd, DowntimeRemoved ]
}}
apply Notification "attribute-log" to Service {{
  command = "log-attributes"
  users = [ "attribute-log" ]
  interval = 0
  assign where host.name == "desk-icinga"
}}
"""

LINE = ("$notification.type$|$service.name$|$service.state$|$service.last_state_ok$|"
        "$service.last_hard_state_change$|$service.last_check$")

SERVICE = """object Service "{name}" {{
  host_name = "desk-icinga"
  check_command = "dummy"
  enable_active_checks = false
  max_check_attempts = 1
}}
"""


class Logged(NamedTuple):
    kind: str
    service: str
    state: str
    last_state_ok: str
    last_hard_state_change: str
    last_check: str


def wait(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what())


class Flow:
    def __init__(self, core: IcingaCore, desk: RequestTracker, work: Path,
                 config: Path) -> None:
        self.core = core
        self.desk = desk
        self.work = work
        self.config = config

    def logged(self, service: str) -> List[Logged]:
        path = self.work / "attributes.log"
        lines = path.read_text().splitlines() if path.exists() else []
        found = [Logged(*line.split("|")) for line in lines if line.count("|") == 5]
        found.sort(key=lambda entry: float(entry.last_check))
        return [entry for entry in found if entry.service == service]

    def wait_logged(self, service: str, count: int) -> List[Logged]:
        wait(lambda: len(self.logged(service)) >= count, 40,
             lambda: f"{count} notifications of {service}: {self.logged(service)}; daemon log: "
                     + (self.work / "daemon.log").read_text()[-2000:])
        return self.logged(service)

    def tickets(self, service: str) -> List[Dict[str, Any]]:
        return [t for t in self.desk.tickets() if t["key"].startswith(ORIGIN + ":")
                and t["host"] == HOST and t["service"] == service]

    def settled(self, service: str, expect: Callable[[List[Dict[str, Any]]], bool],
                ) -> List[Dict[str, Any]]:
        last: List[Dict[str, Any]] = []

        def check() -> bool:
            last[:] = self.tickets(service)
            return expect(last)

        wait(check, 40, lambda: f"tickets of {service}: {last}; journal:\n"
             + (self.work / "journal.log").read_text()[-3000:])
        return last

    def sync(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "iaso-servicedesk-sync"), "-C", str(self.config),
                               "--core", "icinga2"], capture_output=True, text=True,
                              timeout=120)


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    work = tmp_path_factory.mktemp("icinga2-desk")
    desk = RequestTracker(work / "rt")
    (work / "rt").mkdir()
    desk.setup()
    desk.start()
    password = work / "sync.password"
    password.write_text(SYNC_PASSWORD + "\n")
    password.chmod(0o600)
    config = work / "servicedesk.yaml"
    services = "".join(SERVICE.format(name=name) for name in ("cycles", "acknowledged"))
    core = IcingaCore(work / "icinga2", [
        f'const IasoProbesDir = "{BIN}"', f'const IasoServiceDeskConfig = "{config}"',
        "include <itl>", f'include "{ROOT / "etc" / "icinga2" / "iaso-notifications.conf"}"',
        OBJECTS.format(services=services, line=LINE, log=work / "attributes.log")],
        {SYNC_USER: (SYNC_PASSWORD, ["objects/query/Host", "objects/query/Service",
                                     "actions/acknowledge-problem"])})
    config.write_text(yaml.safe_dump({
        "origin": ORIGIN, "spool": str(work / "spool"), "journal": str(work / "journal.log"),
        "desk": {"kind": "rt-rest", "url": desk.url, "queue": "IASO",
                 "token_file": str(desk.token_file)},
        "acknowledge": {"icinga2_url": core.url, "icinga2_ca": str(core.ca),
                        "icinga2_user": SYNC_USER, "icinga2_password_file": str(password)},
    }))
    validated = core.validate()
    assert validated.returncode == 0, validated.stdout[-3000:]
    # The shipped rules reach the host and both services; the log rule the two services.
    assert "Instantiated 5 Notifications." in validated.stdout, validated.stdout[-3000:]
    core.start()
    try:
        yield Flow(core, desk, work, config)
    finally:
        core.stop()
        desk.stop()


def test_ok_icinga2_key_one_ticket_per_problem_each_resolved_by_its_recovery(
        flow: Flow) -> None:
    steps = [(2, "CYCLE CRITICAL - one"), (0, "CYCLE OK"),
             (1, "CYCLE WARNING - two"), (2, "CYCLE CRITICAL - two worse"), (0, "CYCLE OK"),
             (2, "CYCLE CRITICAL - three\nlong output line\nsecond line"), (0, "CYCLE OK")]
    for count, (state, output) in enumerate(steps, start=1):
        flow.core.result(HOST, "cycles", state, output)
        flow.wait_logged("cycles", count)
        time.sleep(1.1)    # a check per second at most: results the API takes carry whole seconds
    logged = flow.logged("cycles")
    assert [e.kind for e in logged] == ["PROBLEM", "RECOVERY", "PROBLEM", "PROBLEM", "RECOVERY",
                                        "PROBLEM", "RECOVERY"]
    # Within the second problem, WARNING -> CRITICAL: the key holds, the hard change moves.
    assert logged[2].last_state_ok == logged[3].last_state_ok
    assert logged[2].last_hard_state_change != logged[3].last_hard_state_change
    keys = [logged[0].last_state_ok, logged[2].last_state_ok, logged[5].last_state_ok]
    assert len(set(keys)) == 3
    tickets = flow.settled("cycles", lambda ts: len(ts) == 3
                           and all(t["status"] == "resolved" for t in ts))
    assert [t["key"] for t in tickets] == [f"{ORIGIN}:{k}" for k in keys]
    assert [len(t["notifications"]) for t in tickets] == [2, 3, 2]
    texts = flow.desk.texts(tickets[2]["id"])
    assert "Summary: CYCLE CRITICAL - three" in texts[0]
    assert "long output line\nsecond line" in texts[0]
    assert "Notification: RECOVERY" in texts[-1]


def test_ok_icinga2_taken_ticket_acknowledged_through_the_api_once(flow: Flow) -> None:
    flow.core.result(HOST, "acknowledged", 2, "ACK CRITICAL - needs a person")
    flow.wait_logged("acknowledged", 1)
    ticket = flow.settled("acknowledged", lambda ts: len(ts) == 1)[0]
    flow.desk.take(ticket["id"], "alice")
    synced = flow.sync()
    assert synced.stdout.startswith("SERVICEDESK SYNC OK - 1 acknowledged"), \
        synced.stdout + synced.stderr
    comment = f"RT#{ticket['id']} taken by alice"
    assert flow.core.attrs(HOST, "acknowledged", ["acknowledgement"])["acknowledgement"] > 0
    assert comment in flow.core.comments(HOST, "acknowledged")
    ack = flow.wait_logged("acknowledged", 2)[1]
    assert ack.kind == "ACKNOWLEDGEMENT"
    ticket = flow.settled("acknowledged", lambda ts: len(ts[0]["notifications"]) == 2)[0]
    assert ticket["acknowledged"] == comment
    assert f"Comment: iaso-servicedesk: {comment}" in flow.desk.texts(ticket["id"])[-1]
    again = flow.sync()
    assert again.stdout.startswith("SERVICEDESK SYNC OK - 0 acknowledged"), again.stdout
    time.sleep(2)
    assert len(flow.logged("acknowledged")) == 2
    assert flow.core.comments(HOST, "acknowledged").count(comment) == 1
    flow.core.result(HOST, "acknowledged", 0, "ACK OK")
    flow.settled("acknowledged", lambda ts: ts[0]["status"] == "resolved"
                 and bool(ts[0]["recovered"]))


def test_ok_icinga2_host_problem_ticket_resolved_by_host_recovery(flow: Flow) -> None:
    flow.core.result(HOST, None, 1, "HOST DOWN - unplugged")
    wait(lambda: len([t for t in flow.desk.tickets() if t["key"].startswith(ORIGIN + ":")
                      and t["service"] == "" and t["host"] == HOST]) == 1, 40,
         lambda: (flow.work / "journal.log").read_text()[-2000:])
    flow.core.result(HOST, None, 0, "HOST UP - back")
    wait(lambda: [t["status"] for t in flow.desk.tickets()
                  if t["key"].startswith(ORIGIN + ":") and t["service"] == ""] == ["resolved"],
         40, lambda: (flow.work / "journal.log").read_text()[-2000:])
    journal = (flow.work / "journal.log").read_text()
    assert re.search(r"RECOVERY desk-icinga \[-\] resolved #\d+", journal), journal
