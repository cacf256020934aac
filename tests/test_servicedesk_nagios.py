"""Alert to ticket, end to end: a real Nagios 4 core (Debian's nagios4) running the shipped
etc/nagios objects, notifying a real Request Tracker 5 (tests/rt_desk.py) through each intake
path: RT's REST 2 API, and mail through rt-mailgate with the shipped "alert" gateway action.

Every scenario runs on both paths. A second contact logs the macros the core passes, so the
tests rest on what the core really does (problem IDs at RECOVERY, notifications it sends or
holds back) and compare the tickets with it: one ticket per notified problem, every
notification recorded once, each ticket resolved by its own recovery and by nothing else.
Passive results (and one active check printing hostile output) drive the states; the shipped
service template and contact decide what is notified.
"""
from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

import pytest
import yaml
from conftest import PASSWORD, USERNAME, play, require_core
from nagios_core import BINARY, NagiosCore
from rt_desk import CORE_ADDRESS, MAILGATE, RequestTracker, require_rt

require_core(BINARY, "nagios4-core")
require_rt()

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "desk-test"
SERVICES = ("cycles", "acknowledged", "by hand", "flapping", "downtime", "downtime recovery",
            "desk down")

OBJECTS = """
define command {{
    command_name    desk_test_passive
    command_line    /bin/true
}}
define command {{
    command_name    desk_test_script
    command_line    {work}/check-script
}}
define command {{
    command_name    desk_log_service
    command_line    /usr/bin/printf '%s\\n' "{service_line}" >> {work}/macros.log
}}
define command {{
    command_name    desk_log_host
    command_line    /usr/bin/printf '%s\\n' "{host_line}" >> {work}/macros.log
}}
define contact {{
    contact_name                    desk-macro-log
    alias                           logs the macros the core passes
    service_notification_period     iaso-24x7
    host_notification_period        iaso-24x7
    service_notification_options    w,u,c,r,f,s
    host_notification_options       d,u,r,f,s
    service_notification_commands   desk_log_service
    host_notification_commands      desk_log_host
}}
define contactgroup {{
    contactgroup_name               desk-macro-log
    alias                           macro log
    members                         desk-macro-log
}}
define host {{
    use                             iaso-environment
    host_name                       desk-test
    alias                           service-desk test host
    check_command                   desk_test_passive
    active_checks_enabled           0
    contact_groups                  iaso-servicedesk,desk-macro-log
    _IASO_ENV                       test
}}
define host {{
    use                             iaso-environment
    host_name                       desk-host
    alias                           host problems
    check_command                   desk_test_passive
    active_checks_enabled           0
    contact_groups                  iaso-servicedesk,desk-macro-log
    _IASO_ENV                       test
}}
{services}
define service {{
    use                             iaso-service
    host_name                       desk-test
    service_description             flap detected
    check_command                   desk_test_passive
    active_checks_enabled           0
    max_check_attempts              1
    flap_detection_enabled          1
    low_flap_threshold              5.0
    high_flap_threshold             15.0
    contact_groups                  iaso-servicedesk,desk-macro-log
}}
define service {{
    use                             iaso-service
    host_name                       desk-test
    service_description             bad input
    check_command                   desk_test_script
    active_checks_enabled           1
    check_interval                  3600
    max_check_attempts              1
    contact_groups                  iaso-servicedesk,desk-macro-log
}}
"""

SERVICE_LINE = ("SERVICE|$NOTIFICATIONTYPE$|$SERVICEDESC$|$SERVICESTATE$|$SERVICEPROBLEMID$|"
                "$LASTSERVICEPROBLEMID$|$SERVICENOTIFICATIONID$")
HOST_LINE = ("HOST|$NOTIFICATIONTYPE$|$HOSTNAME$|$HOSTSTATE$|$HOSTPROBLEMID$|$LASTHOSTPROBLEMID$|"
             "$HOSTNOTIFICATIONID$")

PASSIVE = """define service {{
    use                             iaso-service
    host_name                       desk-test
    service_description             {name}
    check_command                   desk_test_passive
    active_checks_enabled           0
    max_check_attempts              1
    contact_groups                  iaso-servicedesk,desk-macro-log
}}
"""


class Logged(NamedTuple):
    """One notification as the core passed it to the macro-logging contact."""

    kind: str
    target: str
    state: str
    problem: str
    last: str
    nid: str


class Flow:
    """One Nagios core feeding the desk through one intake path."""

    def __init__(self, path: str, core: NagiosCore, desk: RequestTracker, origin: str,
                 config: Path, sync_config: Path, work: Path) -> None:
        self.path = path
        self.core = core
        self.desk = desk
        self.origin = origin
        self.config = config              # the core's: intake path, spool
        self.sync_config = sync_config    # the way back reads RT through REST on either path
        self.work = work

    def result(self, service: str, state: int, output: str) -> None:
        self.core.command(f"PROCESS_SERVICE_CHECK_RESULT;{HOST};{service};{state};{output}")

    def logged(self, target: Optional[str] = None) -> List[Logged]:
        path = self.work / "macros.log"
        lines = path.read_text().splitlines() if path.exists() else []
        found = [Logged(*line.split("|")[1:]) for line in lines if line.count("|") == 6]
        found.sort(key=lambda entry: int(entry.nid))     # the core's order, not the log's
        return [entry for entry in found if target is None or entry.target == target]

    def wait_logged(self, target: str, count: int, timeout: float = 30) -> List[Logged]:
        wait(lambda: len(self.logged(target)) >= count, timeout,
             lambda: f"{count} notifications of {target}; log: {self.logged(target)}\n"
                     + self.core.log()[-1500:])
        return self.logged(target)

    def tickets(self, service: Optional[str] = None, host: str = HOST) -> List[Dict[str, Any]]:
        found = [t for t in self.desk.tickets() if t["key"].startswith(self.origin + ":")]
        return [t for t in found if t["host"] == host
                and (service is None or t["service"] == service)]

    def settled(self, service: Optional[str], expect: Callable[[List[Dict[str, Any]]], bool],
                host: str = HOST, timeout: float = 40) -> List[Dict[str, Any]]:
        """The tickets of ``service`` once ``expect`` holds of them. Past 15 s the scheduled
        flush is played once, as cron would (a desk slowed down by a loaded machine can make a
        notification wait for it; the journal says so)."""
        last: List[Dict[str, Any]] = []
        flush_at = time.monotonic() + 15

        def check() -> bool:
            nonlocal flush_at
            last[:] = self.tickets(service, host)
            if not expect(last) and time.monotonic() > flush_at:
                flush_at = float("inf")
                self.flush()
                last[:] = self.tickets(service, host)
            return expect(last)

        wait(check, timeout, lambda: f"tickets of {service}: {last}; journal:\n"
             + self.journal()[-3000:])
        return last

    def journal(self) -> str:
        path = self.work / "desk-journal.log"
        return path.read_text() if path.exists() else ""

    def sync(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "iaso-servicedesk-sync"), "-C", str(self.sync_config),
                               "--core", "nagios"], capture_output=True, text=True, timeout=120)

    def flush(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "iaso-servicedesk-flush"), "-C", str(self.config)],
                              capture_output=True, text=True, timeout=120)

    def spooled(self) -> int:
        queue = self.work / "desk-spool" / "queue"
        return len(list(queue.glob("*.json"))) if queue.exists() else 0


def wait(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what())


def nids_of(entries: List[Logged], origin: str) -> List[str]:
    return [f"{origin}:n{entry.nid}" for entry in entries]


def kinds(texts: List[str]) -> List[str]:
    """The notification type of each ticket text, in the ticket's order."""
    return [match.group(1) for match in (re.search(r"^Notification: (\w+)$", text, re.M)
                                         for text in texts) if match]


def recorded(ticket: Dict[str, Any]) -> List[str]:
    """The notification IDs on a ticket, without the core's time suffix."""
    return [n.split("@")[0] for n in ticket["notifications"]]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RequestTracker]:
    rt = RequestTracker(tmp_path_factory.mktemp("rt"))
    rt.setup()
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


def objects_for(work: Path, with_prod: bool) -> Path:
    """The shipped object files, with the environments this flow does not exercise left
    empty (their probes would only cost time), and the test objects beside them."""
    objects = work / "objects"
    shutil.copytree(ROOT / "etc" / "nagios", objects)
    for name in ("lab.cfg", "qualif.cfg") + (() if with_prod else ("prod.cfg",)):
        (objects / name).write_text("# not exercised here\n")
    services = "".join(PASSIVE.format(name=name) for name in SERVICES)
    (work / "desk-test.cfg").write_text(OBJECTS.format(
        work=work, services=services, service_line=SERVICE_LINE, host_line=HOST_LINE))
    script = work / "check-script"
    script.write_text(f"#!/bin/sh\ncat '{work}/check-output'\nexit \"$(cat '{work}/check-rc')\"\n")
    script.chmod(0o755)
    (work / "check-output").write_text("BAD INPUT OK - nothing yet\n")
    (work / "check-rc").write_text("0\n")
    return objects


def probe_config(work: Path, url: str) -> Path:
    secret = work / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    path = work / "iaso.yaml"
    path.write_text(yaml.safe_dump({"environments": {"prod": {
        "base_url": url,
        "credentials": {"username": USERNAME, "password_file": str(secret)},
        "jobs": {"state_dir": str(work / "state"), "poll_interval": 0.5,
                 "backup_interval": 12, "restore_interval": 3600},
        "backup_sets": {"linux-vms": [{"hostname": "vm-a", "level": "incremental"},
                                      {"hostname": "vm-b", "level": "full"}]},
        "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                    "source_path": "/etc", "destination": "/tmp/restore"}},
    }}}))
    return path


@pytest.fixture(scope="module", params=["rest", "mail"])
def flow(request: pytest.FixtureRequest, desk: RequestTracker, simulator: Any,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    path = request.param
    play(simulator, {"job_speed": 60, "job_duration": 60})
    work = tmp_path_factory.mktemp(f"nagios-{path}")
    origin = f"nagios-{path}"
    config = work / "servicedesk.yaml"
    settings: Dict[str, Any] = {
        "origin": origin, "spool": str(work / "desk-spool"), "timeout": 20,
        "journal": str(work / "desk-journal.log"),
        "request_timeout": 5,
        "acknowledge": {"nagios_command_file": str(work / "var" / "nagios.cmd"),
                        "nagios_status_file": str(work / "var" / "status.dat")},
    }
    sendmail: Optional[Path] = None
    if path == "rest":
        settings["desk"] = {"kind": "rt-rest", "url": desk.url, "queue": "IASO",
                            "token_file": str(desk.token_file)}
    else:
        # The mail transfer agent's part, as an alias "|rt-mailgate ..." plays it; a copy of
        # each mail is kept for the header checks.
        sendmail = work / "sendmail-to-rt"
        (work / "sent").mkdir()
        sendmail.write_text(f"#!/bin/sh\ntee '{work}/sent/'$(date +%s%N).eml | {MAILGATE} "
                            f"--queue IASO --action alert --url {desk.url}/\n")
        sendmail.chmod(0o755)
        settings["desk"] = {"kind": "mail", "from": CORE_ADDRESS, "sendmail": str(sendmail)}
    config.write_text(yaml.safe_dump(settings))
    sync_config = config
    if path == "mail":     # a mail-fed desk is still read through REST for the way back
        sync_config = work / "servicedesk-sync.yaml"
        sync_config.write_text(yaml.safe_dump(dict(
            settings, spool=str(work / "sync-spool"),
            desk={"kind": "rt-rest", "url": desk.url, "queue": "IASO",
                  "token_file": str(desk.token_file)})))
    core = NagiosCore(work, BIN, probe_config(work, simulator.url),
                      objects=objects_for(work, with_prod=path == "rest"),
                      servicedesk=config, sendmail=sendmail,
                      extra_objects=[work / "desk-test.cfg"],
                      settings=["enable_environment_macros=1", "enable_flap_detection=1",
                                f"query_socket={work / 'var' / 'nagios.qh'}"])
    verified = core.verify()
    assert "Total Errors:   0" in verified.stdout, verified.stdout[-3000:]
    assert "Total Warnings: 0" in verified.stdout, verified.stdout[-3000:]
    core.start()
    try:
        # A command written before the core made its FIFO would create a plain file instead.
        command_file = work / "var" / "nagios.cmd"
        wait(lambda: command_file.exists() and stat.S_ISFIFO(command_file.stat().st_mode), 30,
             lambda: "the core's command FIFO")
        yield Flow(path, core, desk, origin, config, sync_config, work)
    finally:
        core.stop()
        play(simulator, {})


def test_ok_three_problems_of_one_service_three_tickets_each_resolved_by_its_recovery(
        flow: Flow) -> None:
    steps = [(2, "CYCLE CRITICAL - one"), (0, "CYCLE OK"),
             (1, "CYCLE WARNING - two"), (2, "CYCLE CRITICAL - two worse"), (0, "CYCLE OK"),
             (3, "CYCLE UNKNOWN - three"), (0, "CYCLE OK")]
    for count, (state, output) in enumerate(steps, start=1):
        flow.result("cycles", state, output)
        flow.wait_logged("cycles", count)
    logged = flow.logged("cycles")
    assert [e.kind for e in logged] == ["PROBLEM", "RECOVERY", "PROBLEM", "PROBLEM", "RECOVERY",
                                        "PROBLEM", "RECOVERY"]
    problems = [logged[0].problem, logged[2].problem, logged[5].problem]
    assert len(set(problems)) == 3 and "0" not in problems
    assert logged[3].problem == logged[2].problem          # WARNING -> CRITICAL: same problem
    # What Nagios 4.4.6 passes at a service RECOVERY: the ending problem's ID, and the ID of the
    # problem before it as the "last" one (the defect of issue 11 read the latter).
    for recovery, problem in ((logged[1], problems[0]), (logged[4], problems[1]),
                              (logged[6], problems[2])):
        assert recovery.problem == problem and recovery.last != problem
    assert logged[4].last == problems[0] and logged[6].last == problems[1]

    tickets = flow.settled("cycles", lambda ts: len(ts) == 3
                           and all(t["status"] == "resolved" for t in ts))
    by_key = {t["key"]: t for t in tickets}
    assert sorted(by_key) == sorted(f"{flow.origin}:{p}" for p in problems)
    for problem, entries in zip(problems, (logged[0:2], logged[2:5], logged[5:7])):
        ticket = by_key[f"{flow.origin}:{problem}"]
        assert sorted(recorded(ticket)) == sorted(nids_of(entries, flow.origin))
        assert ticket["recovered"].split("@")[0] == nids_of(entries, flow.origin)[-1]
        # In the core's order, unless a loaded machine started a PROBLEM's command after its
        # RECOVERY's: then the PROBLEM is noted after it, on the same ticket (the desk-down test
        # checks the order where the spool holds both).
        assert sorted(kinds(flow.desk.texts(ticket["id"]))) == sorted(e.kind for e in entries)


def test_ok_host_problem_ticket_resolved_by_the_host_recovery(flow: Flow) -> None:
    flow.core.command("PROCESS_HOST_CHECK_RESULT;desk-host;1;HOST DOWN - unplugged")
    flow.wait_logged("desk-host", 1)
    flow.core.command("PROCESS_HOST_CHECK_RESULT;desk-host;0;HOST UP - back")
    problem, recovery = flow.wait_logged("desk-host", 2)
    # Nagios 4.4.6 clears a host's problem ID before the RECOVERY goes out (unlike a service's).
    assert (problem.kind, recovery.kind) == ("PROBLEM", "RECOVERY")
    assert recovery.problem == "0" and recovery.last == problem.problem
    tickets = flow.settled(None, lambda ts: len(ts) == 1 and ts[0]["status"] == "resolved",
                           host="desk-host")
    assert tickets[0]["service"] == "" and tickets[0]["key"] == f"{flow.origin}:{problem.problem}"
    assert recorded(tickets[0]) == nids_of([problem, recovery], flow.origin)


def test_ok_taken_ticket_is_acknowledged_in_the_core_once(flow: Flow) -> None:
    flow.result("acknowledged", 2, "ACK CRITICAL - needs a person")
    flow.wait_logged("acknowledged", 1)
    ticket = flow.settled("acknowledged", lambda ts: len(ts) == 1)[0]
    flow.desk.take(ticket["id"], "alice")
    synced = flow.sync()
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert synced.stdout.startswith("SERVICEDESK SYNC OK - 1 acknowledged"), synced.stdout
    comment = f"RT#{ticket['id']} taken by alice"
    wait(lambda: comment in (flow.core.var / "status.dat").read_text(), 15,
         lambda: str(re.findall(r"comment_data=.*", (flow.core.var / "status.dat").read_text())))
    assert flow.core.services()[(HOST, "acknowledged")]["problem_has_been_acknowledged"] == "1"
    ack = flow.wait_logged("acknowledged", 2)[1]
    assert ack.kind == "ACKNOWLEDGEMENT"
    ticket = flow.settled("acknowledged", lambda ts: len(ts[0]["notifications"]) == 2)[0]
    assert ticket["acknowledged"] == comment
    assert comment in flow.desk.texts(ticket["id"])[-1]

    again = flow.sync()
    assert again.stdout.startswith("SERVICEDESK SYNC OK - 0 acknowledged"), again.stdout
    time.sleep(2)
    assert [e.kind for e in flow.logged("acknowledged")] == ["PROBLEM", "ACKNOWLEDGEMENT"]
    flow.result("acknowledged", 0, "ACK OK")
    flow.wait_logged("acknowledged", 3)
    flow.settled("acknowledged", lambda ts: len(ts) == 1 and ts[0]["status"] == "resolved")


def test_ok_ticket_resolved_by_hand_before_recovery_says_so_in_the_core(flow: Flow) -> None:
    flow.result("by hand", 2, "HAND CRITICAL - fixed by a person")
    flow.wait_logged("by hand", 1)
    ticket = flow.settled("by hand", lambda ts: len(ts) == 1)[0]
    flow.desk.resolve_by_hand(ticket["id"])
    synced = flow.sync()
    assert "1 acknowledged" in synced.stdout, synced.stdout + synced.stderr
    ack = flow.wait_logged("by hand", 2)[1]
    assert ack.kind == "ACKNOWLEDGEMENT"
    comment = f"RT#{ticket['id']} resolved by hand by root before recovery"
    wait(lambda: comment in (flow.core.var / "status.dat").read_text(), 10,
         lambda: str(re.findall(r"comment_data=.*", (flow.core.var / "status.dat").read_text())))
    flow.result("by hand", 0, "HAND OK")
    flow.wait_logged("by hand", 3)
    tickets = flow.settled("by hand", lambda ts: bool(ts[0]["recovered"]))
    assert len(tickets) == 1 and tickets[0]["status"] == "resolved"
    assert recorded(tickets[0]) == nids_of(flow.logged("by hand"), flow.origin)


def test_ok_flapping_with_the_shipped_template_never_orphans_a_ticket(flow: Flow) -> None:
    for index in range(8):      # as fast as the core takes them: pairs within one second
        flow.result("flapping", 2 if index % 2 == 0 else 0, f"FLAP {index}")
    logged = flow.wait_logged("flapping", 8)
    assert [e.kind for e in logged] == ["PROBLEM", "RECOVERY"] * 4   # detection off: no flap
    tickets = flow.settled("flapping", lambda ts: len(ts) == 4
                           and all(t["status"] == "resolved" for t in ts))
    assert sorted(n for t in tickets for n in recorded(t)) == \
        sorted(nids_of(logged, flow.origin))


def test_ok_flap_detection_turned_on_still_closes_the_ticket(flow: Flow) -> None:
    index = 0
    while not any(e.kind == "FLAPPINGSTART" for e in flow.logged("flap detected")):
        flow.result("flap detected", 2 if index % 2 == 0 else 0, f"FLAP {index}")
        index += 1
        time.sleep(1.1)
        assert index < 30, flow.logged("flap detected")
    for _ in range(30):
        flow.result("flap detected", 0, "STEADY OK")
    wait(lambda: any(e.kind == "FLAPPINGSTOP" for e in flow.logged("flap detected")), 30,
         lambda: str(flow.logged("flap detected")))
    time.sleep(2)
    logged = flow.logged("flap detected")
    # A problem that began on the check that began the flapping is announced by FLAPPINGSTART
    # alone (the core holds its PROBLEM back); it is a ticket all the same.
    problems = {e.problem for e in logged if e.kind == "PROBLEM"
                or (e.kind == "FLAPPINGSTART" and e.state != "OK")}
    tickets = flow.settled("flap detected", lambda ts: len(ts) == len(problems) and all(
        t["status"] == "resolved" for t in ts))
    assert {t["key"].split(":", 1)[1] for t in tickets} == problems
    texts = [text for t in tickets for text in flow.desk.texts(t["id"])]
    assert any("Notification: FLAPPINGSTART" in text for text in texts), (logged, texts)
    assert any("Notification: FLAPPINGSTOP" in text for text in texts), (logged, texts)
    every = sorted(n for t in tickets for n in recorded(t))
    assert len(every) == len(set(every)) == len(logged)


def test_ok_downtime_start_and_end_recorded_on_the_ticket(flow: Flow) -> None:
    flow.result("downtime", 2, "DOWNTIME CRITICAL - maintenance due")
    flow.wait_logged("downtime", 1)
    now = int(time.time())
    flow.core.command(f"SCHEDULE_SVC_DOWNTIME;{HOST};downtime;{now};{now + 4};1;0;4;tester;"
                      f"planned work")
    flow.wait_logged("downtime", 3, timeout=20)
    flow.result("downtime", 0, "DOWNTIME OK")
    logged = flow.wait_logged("downtime", 4)
    assert [e.kind for e in logged] == ["PROBLEM", "DOWNTIMESTART", "DOWNTIMEEND", "RECOVERY"]
    ticket = flow.settled("downtime", lambda ts: len(ts) == 1 and ts[0]["status"] == "resolved"
                          and len(ts[0]["notifications"]) == 4)[0]
    texts = flow.desk.texts(ticket["id"])
    assert "planned work" in texts[1] and "Notification: DOWNTIMEEND" in texts[2]


def test_ok_recovery_inside_a_downtime_still_closes_the_ticket(flow: Flow) -> None:
    flow.result("downtime recovery", 2, "DTR CRITICAL")
    flow.wait_logged("downtime recovery", 1)
    now = int(time.time())
    flow.core.command(f"SCHEDULE_SVC_DOWNTIME;{HOST};downtime recovery;{now};{now + 4};1;0;4;"
                      f"tester;window")
    flow.wait_logged("downtime recovery", 2)
    flow.result("downtime recovery", 0, "DTR OK")
    logged = flow.wait_logged("downtime recovery", 3, timeout=20)
    # The core holds back the RECOVERY inside the downtime and does not send it afterwards:
    # the DOWNTIMEEND that finds the service OK is the only word of the problem's end.
    assert [(e.kind, e.state) for e in logged] == [("PROBLEM", "CRITICAL"),
                                                   ("DOWNTIMESTART", "CRITICAL"),
                                                   ("DOWNTIMEEND", "OK")]
    time.sleep(2)
    assert len(flow.logged("downtime recovery")) == 3
    flow.settled("downtime recovery",
                 lambda ts: len(ts) == 1 and ts[0]["status"] == "resolved")


def test_warn_desk_down_nothing_lost_nothing_doubled_order_kept(flow: Flow) -> None:
    before = len(flow.desk.tickets())
    flow.desk.stop()                                     # down during the PROBLEM
    flow.result("desk down", 2, "DOWN CRITICAL - one")
    flow.wait_logged("desk down", 1)
    wait(lambda: flow.spooled() == 1, 20, lambda: f"{flow.spooled()} spooled")
    flow.desk.start()                                    # back before the RECOVERY
    flushed = flow.flush()
    assert flushed.stdout.startswith("SERVICEDESK SPOOL OK - spool empty, 1 delivered"), \
        flushed.stdout
    flow.settled("desk down", lambda ts: len(ts) == 1 and ts[0]["status"] != "resolved")
    flow.desk.stop()                                     # down for the RECOVERY
    flow.result("desk down", 0, "DOWN OK")
    flow.wait_logged("desk down", 2)
    wait(lambda: flow.spooled() == 1, 20, lambda: f"{flow.spooled()} spooled")
    flow.result("desk down", 2, "DOWN CRITICAL - two")   # and for a whole second problem
    flow.wait_logged("desk down", 3)
    flow.result("desk down", 0, "DOWN OK again")
    flow.wait_logged("desk down", 4)
    wait(lambda: flow.spooled() == 3, 20, lambda: f"{flow.spooled()} spooled")
    flow.desk.start()                                    # back after the RECOVERY
    flushed = flow.flush()
    assert "3 delivered" in flushed.stdout and flushed.returncode == 0, flushed.stdout
    logged = flow.logged("desk down")
    tickets = flow.settled("desk down", lambda ts: len(ts) == 2
                           and all(t["status"] == "resolved" for t in ts))
    assert len(flow.desk.tickets()) == before + 2
    assert [recorded(t) for t in tickets] == [nids_of(logged[0:2], flow.origin),
                                              nids_of(logged[2:4], flow.origin)]
    for ticket in tickets:
        assert kinds(flow.desk.texts(ticket["id"])) == ["PROBLEM", "RECOVERY"]


HOSTILE_FIRST = ("BAD INPUT CRITICAL - $(touch {work}/pwned-1) `touch {work}/pwned-2` "
                 "\"double\" 'single' \\ Sauvegarde échouée 東京\r"
                 "Subject: forged | perf=1")
HOSTILE_LONG = ("line two $(touch {work}/pwned-3)\nBcc: victim@example.net\n"
                "X-IASO-Action: resolve\nfin é")
HOSTILE_COMMENT = "on it $(touch {work}/pwned-4) `id` 'q' \"d\"; é"


def test_crit_hostile_output_through_the_core_executes_nothing_and_arrives_intact(
        flow: Flow) -> None:
    work = flow.work
    first = HOSTILE_FIRST.format(work=work)
    (work / "check-output").write_text(first + "\n" + HOSTILE_LONG.format(work=work) + "\n")
    (work / "check-rc").write_text("2\n")
    flow.core.command(f"SCHEDULE_FORCED_SVC_CHECK;{HOST};bad input;{int(time.time())}")
    flow.wait_logged("bad input", 1)
    ticket = flow.settled("bad input", lambda ts: len(ts) == 1)[0]
    comment = HOSTILE_COMMENT.format(work=work)
    flow.core.command(f"ACKNOWLEDGE_SVC_PROBLEM;{HOST};bad input;1;1;0;tester;{comment}")
    flow.wait_logged("bad input", 2)
    ticket = flow.settled("bad input", lambda ts: len(ts[0]["notifications"]) == 2)[0]
    assert not list(work.glob("pwned-*"))
    problem, acknowledgement = flow.desk.texts(ticket["id"])
    summary = first.split(" | ")[0].replace("\r", " / ")
    assert f"Summary: {summary}" in problem, problem
    assert HOSTILE_LONG.format(work=work) in problem
    assert f"Comment: tester: {comment}" in acknowledgement, acknowledgement
    assert ticket["status"] != "resolved"                 # the forged action did nothing
    assert "\n" not in ticket["subject"] and "forged" not in ticket["subject"]
    if flow.path == "mail":
        for sent in (work / "sent").glob("*.eml"):
            mail = message_from_bytes(sent.read_bytes(), policy=policy.default)
            assert mail.get_all("Bcc") is None
            assert len(mail.get_all("Subject") or []) == 1 and "forged" not in mail["Subject"]
            assert len(mail.get_all("X-IASO-Action") or []) == 1
    (work / "check-rc").write_text("0\n")
    (work / "check-output").write_text("BAD INPUT OK\n")
    flow.core.command(f"SCHEDULE_FORCED_SVC_CHECK;{HOST};bad input;{int(time.time())}")
    flow.wait_logged("bad input", 3)
    flow.settled("bad input", lambda ts: ts[0]["status"] == "resolved")


def test_crit_failed_backup_ticket_stays_open_through_relaunch_until_a_backup_completes(
        flow: Flow, simulator: Any) -> None:
    if flow.path != "rest":
        pytest.skip("one intake path is enough for the job rule; its tickets are the same")
    service = "IASO backup linux-vms"
    play(simulator, {"job_speed": 60, "job_duration": 60,
                     "hosts": {"vm-b": {"outcome": "failed", "at_percent": 40}}})
    flow.core.wait_for("iaso-prod", service, 2, output=r"1 of 2 backups failed: vm-b",
                       timeout=90)
    tickets = flow.settled(service, lambda ts: len(ts) == 1, host="iaso-prod")
    # Relaunched (backup_interval 12 s) while the new jobs take 10 s: the failure stands.
    launched = simulator.counters["backup"]
    play(simulator, {"job_speed": 6, "job_duration": 60})
    deadline = time.monotonic() + 90
    checked_while_relaunched = 0
    while time.monotonic() < deadline:
        status = flow.core.services()[("iaso-prod", service)]
        if status["current_state"] == "0":
            break
        assert status["current_state"] == "2", status["plugin_output"]
        if simulator.counters["backup"] > launched:
            checked_while_relaunched += 1
        time.sleep(0.5)
    assert simulator.counters["backup"] > launched, "no relaunch"
    assert checked_while_relaunched >= 4, "the relaunched jobs were never seen running"
    tickets = flow.settled(service, lambda ts: len(ts) == 1 and ts[0]["status"] == "resolved",
                           host="iaso-prod")
    notified = re.findall(rf"SERVICE NOTIFICATION: iaso-servicedesk;iaso-prod;{service};(\w+);",
                          flow.core.log())
    assert notified == ["CRITICAL", "OK"]       # one PROBLEM, one RECOVERY: nothing between
    assert len(tickets[0]["notifications"]) == 2
    play(simulator, {"job_speed": 60, "job_duration": 60})


def test_crit_mail_from_another_sender_is_refused_though_the_gateway_exits_0(
        desk: RequestTracker) -> None:
    from libiaso.servicedesk.mail import build_mail
    from libiaso.servicedesk.notification import build
    from libiaso.servicedesk.settings import MailDesk

    forged = build(core="nagios", origin="intruder", kind="RECOVERY", host=HOST,
                   service="cycles", state="OK", problem_id="1", last_problem_id="0",
                   core_notification_id="1", timet="1")
    before = desk.tickets()
    done = desk.mailgate(build_mail(forged, MailDesk("", "iaso-alerts@desk.invalid",
                                                     "intruder@elsewhere.invalid")).as_bytes())
    assert done.returncode == 0          # rt-mailgate's status says nothing of the outcome
    time.sleep(1)
    assert desk.tickets() == before
