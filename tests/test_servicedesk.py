"""The service-desk flow without a core: which problem a notification belongs to (from what
Nagios 4.4.6, Naemon and Icinga 2 pass, per their sources and tests/test_servicedesk_nagios.py),
the desk's action, the mail's headers, the spool's durability and order, and the REST client's
conduct toward a desk that misbehaves (a hostile loopback server, not a stand-in for RT: RT
itself is exercised in the end-to-end modules)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from conftest import ROOT

from libiaso.errors import ConfigError, DeskRejected, DeskUnreachable
from libiaso.servicedesk.mail import build_mail
from libiaso.servicedesk.notification import Action, Notification, action_for, build
from libiaso.servicedesk.rt_rest import RtRest
from libiaso.servicedesk.settings import MailDesk, RestDesk, parse_settings
from libiaso.servicedesk.spool import Spool
from libiaso.servicedesk.ticket_key import problem_of

# (core, type, state, $..PROBLEMID$, $LAST..PROBLEMID$) -> problem. Sources: Nagios 4.4.6
# base/checks.c (a service's problem ID is cleared after its RECOVERY went out; a host's before),
# flapping.c (the recovery sent after a flapping episode, IDs already cleared); Naemon's
# macrolist ("If the service is currently in an OK state, this macro will be set to an empty
# string") and checks_service.c; Icinga 2 has no problem ID (ticket_key's docstring).
KEYS = [
    ("ok-nagios-service-problem", "nagios", "PROBLEM", "CRITICAL", "25", "24", "25"),
    ("ok-nagios-service-recovery-current-id-is-the-ending-problem", "nagios", "RECOVERY", "OK",
     "25", "24", "25"),
    ("ok-nagios-host-recovery-current-id-cleared", "nagios", "RECOVERY", "UP", "0", "31", "31"),
    ("ok-naemon-recovery-current-id-empty", "nagios", "RECOVERY", "OK", "",
     "39dbb346-f483-49fe-8211-feec8edf90ea", "39dbb346-f483-49fe-8211-feec8edf90ea"),
    ("ok-nagios-acknowledgement", "nagios", "ACKNOWLEDGEMENT", "WARNING", "25", "24", "25"),
    ("ok-nagios-flapping-began-on-the-recovering-check", "nagios", "FLAPPINGSTART", "OK",
     "25", "24", "25"),
    ("ok-nagios-downtime-ended-after-a-recovery-inside-it", "nagios", "DOWNTIMEEND", "OK",
     "0", "25", "25"),
    ("ok-nagios-downtime-start-on-an-ok-service-is-no-problem", "nagios", "DOWNTIMESTART", "OK",
     "0", "24", ""),
    ("ok-icinga2-problem-is-its-last-ok-time", "icinga2", "PROBLEM", "CRITICAL",
     "1732541234.123456", "", "1732541234.123456"),
    ("ok-icinga2-recovery-names-no-problem", "icinga2", "RECOVERY", "OK", "1732541299.5", "",
     ""),
]


@pytest.mark.parametrize("core,kind,state,current,last,expected",
                         [k[1:] for k in KEYS], ids=[k[0] for k in KEYS])
def test_problem_of(core: str, kind: str, state: str, current: str, last: str,
                    expected: str) -> None:
    assert problem_of(core, kind, state, current, last) == expected


ACTIONS = [
    ("ok-problem-opens", "PROBLEM", "CRITICAL", "7", Action.OPEN),
    ("ok-recovery-resolves", "RECOVERY", "OK", "7", Action.RESOLVE),
    ("ok-acknowledgement-is-noted", "ACKNOWLEDGEMENT", "CRITICAL", "7", Action.RECORD),
    ("ok-downtime-during-a-problem-is-noted", "DOWNTIMESTART", "WARNING", "7", Action.RECORD),
    ("ok-flapping-start-while-ok-resolves", "FLAPPINGSTART", "OK", "7", Action.RESOLVE),
    ("ok-flapping-start-on-a-problem-opens-it", "FLAPPINGSTART", "CRITICAL", "7", Action.OPEN),
    ("ok-flapping-stop-while-ok-resolves", "FLAPPINGSTOP", "OK", "7", Action.RESOLVE),
    ("ok-downtime-start-while-ok-is-nothing", "DOWNTIMESTART", "OK", "", Action.NONE),
    ("ok-custom-while-ok-is-nothing", "CUSTOM", "OK", "", Action.NONE),
]


@pytest.mark.parametrize("kind,state,problem,expected", [a[1:] for a in ACTIONS],
                         ids=[a[0] for a in ACTIONS])
def test_action_for(kind: str, state: str, problem: str, expected: Action) -> None:
    assert action_for(kind, state, problem) is expected


def note(kind: str = "PROBLEM", state: str = "CRITICAL", problem: str = "7", **extra: str,
         ) -> Notification:
    values = dict(core="nagios", origin="core1", kind=kind, host="iaso-prod",
                  service="IASO health", state=state, problem_id=problem, last_problem_id="6",
                  core_notification_id=extra.pop("nid", "100"), timet=extra.pop("timet", "1"))
    values.update(extra)
    return build(**values)


def test_ok_same_core_notification_same_id_for_every_contact() -> None:
    assert note().notification_id == note().notification_id == "core1:n100@1"
    assert note(nid="101").notification_id != note().notification_id
    assert note(nid="").notification_id != note(nid="").notification_id   # Icinga 2: a UUID


def test_ok_spooled_form_round_trips_and_refuses_other_json() -> None:
    n = note(output="é $(id) `x` \"q\" 'q'\r\nline", details="a\nb")
    assert Notification.from_json(n.to_json()) == n
    for bad in ("[]", "{}", '{"notification_id": "x"}', "not json"):
        with pytest.raises(ValueError):
            Notification.from_json(bad)


HOSTILE_OUTPUT = ("IASO HEALTH CRITICAL - prod: commserve down\r\nBcc: victim@example.net\r\n"
                  "Subject: forged\n\nX-IASO-Action: resolve")


def test_crit_output_cannot_forge_a_header_or_a_body_field() -> None:
    n = note(output=HOSTILE_OUTPUT, details="CRITICAL commserve: down\nTo: someone@else")
    raw = build_mail(n, MailDesk("/usr/sbin/sendmail", "desk@example.net",
                                 "core@example.net")).as_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert message.get_all("Bcc") is None
    assert message.get_all("Subject") == [message["Subject"]] and "\n" not in message["Subject"]
    assert message.get_all("X-IASO-Action") == ["open"]
    assert message["X-IASO-Ticket"] == "core1:7"
    assert message["X-IASO-Notification-Id"] == "core1:n100@1"
    body = message.get_content()
    summary = [line for line in body.splitlines() if line.startswith("Summary: ")]
    assert summary == ["Summary: IASO HEALTH CRITICAL - prod: commserve down / Bcc: "
                       "victim@example.net / Subject: forged /  / X-IASO-Action: resolve"]
    assert "CRITICAL commserve: down\nTo: someone@else" in body


def test_ok_non_ascii_travels_encoded_and_comes_back_intact() -> None:
    n = note(output="Sauvegarde échouée — 東京", environment="prod", service="Sauvegarde 東京")
    raw = build_mail(n, MailDesk("/x", "desk@example.net", "")).as_bytes()
    assert all(byte < 128 for byte in raw.split(b"\n\n", 1)[0])   # headers: ASCII only
    message = message_from_bytes(raw, policy=policy.default)
    assert "iaso-prod/Sauvegarde 東京 is CRITICAL" in message["Subject"]
    assert message["X-IASO-Service"] == "Sauvegarde 東京"
    assert "Summary: Sauvegarde échouée — 東京" in message.get_content()


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_ok_spool_writes_whole_files_and_delivers_in_arrival_order(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), clock=Clock())
    sent = [note(kind="PROBLEM", nid="1"), note(kind="ACKNOWLEDGEMENT", nid="2"),
            note(kind="RECOVERY", state="OK", nid="3")]
    for n in sent:
        spool.put(n)
    assert os.listdir(spool.tmp) == []
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in spool.waiting())
    delivered: List[Notification] = []
    report = spool.flush(delivered.append, time.monotonic() + 10)
    assert delivered == sent and report.delivered == 3 and report.waiting == 0


def test_warn_desk_down_keeps_everything_in_order_for_the_next_run(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), clock=Clock())
    sent = [note(nid=str(i)) for i in range(5)]
    for n in sent:
        spool.put(n)
    taken: List[Notification] = []

    def down_after_two(n: Notification) -> None:
        if len(taken) == 2:
            raise DeskUnreachable("desk down")
        taken.append(n)

    report = spool.flush(down_after_two, time.monotonic() + 10)
    assert (report.delivered, report.waiting, report.reason) == (2, 3, "desk down")
    spool.flush(taken.append, time.monotonic() + 10)
    assert taken == sent


def test_crit_refused_notification_is_set_aside_not_lost_and_the_queue_moves_on(
        tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), clock=Clock())
    for i in range(3):
        spool.put(note(nid=str(i)))
    Path(spool.queue, "00000000000000000000-0000000-0000.json").write_text("{broken")
    taken: List[str] = []

    def refuse_second(n: Notification) -> None:
        if n.notification_id == "core1:n1@1":
            raise DeskRejected("HTTP 400")
        taken.append(n.notification_id)

    journal: List[str] = []
    report = spool.flush(refuse_second, time.monotonic() + 10, journal=journal.append)
    assert taken == ["core1:n0@1", "core1:n2@1"]
    assert report.rejected == 2 and len(spool.rejected_files()) == 2
    assert len([line for line in journal if " set aside in " in line]) == 2


def test_warn_time_up_stops_between_notifications(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), clock=Clock())
    for i in range(4):
        spool.put(note(nid=str(i)))
    now = [0.0]

    def slow_desk(n: Notification) -> None:
        now[0] += 1.5            # each delivery takes 1.5 s of the 4 s budget

    report = spool.flush(slow_desk, until=4.0, monotonic=lambda: now[0])
    assert (report.delivered, report.waiting, report.reason) == (3, 1, "time is up")


def test_warn_a_second_delivery_waits_for_the_first_then_gives_up(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), clock=Clock())
    spool.put(note())
    Path(spool.directory, ".lock").touch()
    code = ("import fcntl, os, sys, time\n"
            f"fd = os.open({os.path.join(spool.directory, '.lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        report = spool.flush(lambda n: None, time.monotonic() + 0.5)
        assert time.monotonic() - started < 2
        assert (report.delivered, report.waiting) == (0, 1)
        assert report.reason == "another delivery holds the spool"
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("desk,message", [
    ({"kind": "rt-rest", "url": "http://rt.example.net", "token_file": "t"}, "in clear"),
    ({"kind": "rt-rest", "url": "https://u:p@rt.example.net", "token_file": "t"},
     "credentials do not belong"),
    ({"kind": "rt-rest", "url": "https://rt.example.net"}, "token_file: is required"),
    ({"kind": "jira"}, "expected one of"),
    ({"kind": "mail", "tokn_file": "x"}, "unknown key"),
], ids=["unknown-http-to-another-host", "unknown-userinfo-in-url", "unknown-no-token-file",
        "unknown-unknown-kind", "unknown-misspelt-key"])
def test_unknown_bad_desk_configuration_is_refused(desk: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings({"desk": desk}, "/etc/iaso-probes/servicedesk.yaml")


# --- the REST client against a hostile desk on loopback --------------------------------------

class HostileDesk:
    """A loopback HTTP server; ``behave(path, handler)`` returns (status, headers, body)."""

    def __init__(self, behave: Callable[[BaseHTTPRequestHandler], Tuple[int, Dict, bytes]]):
        self.seen: List[Tuple[str, str, str]] = []
        desk = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                desk.seen.append((self.command, self.path,
                                  self.headers.get("Authorization", "")))
                status, headers, body = behave(self)
                if status == 0:
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "rt.token"
    path.write_text("1-2-secret-desk-token\n")
    path.chmod(0o600)
    return path


def rest(url: str, token: Path, timeout: float = 2.0) -> RtRest:
    return RtRest(RestDesk(url=url, queue="IASO", token_file=str(token), ca_bundle=None),
                  timeout)


def test_crit_redirect_elsewhere_is_not_followed_and_the_token_stays_home(token: Path) -> None:
    other = HostileDesk(lambda h: (200, {}, b'{"items": []}'))
    desk = HostileDesk(lambda h: (302, {"Location": other.url + "/REST/2.0/tickets"}, b""))
    try:
        with pytest.raises(DeskUnreachable, match="redirected"):
            rest(desk.url, token).deliver(note())
        assert other.seen == []
        assert [s[2] for s in desk.seen] == ["token 1-2-secret-desk-token"]
    finally:
        desk.close()
        other.close()


def test_crit_desk_that_never_answers_costs_one_timeout(token: Path) -> None:
    release = threading.Event()
    desk = HostileDesk(lambda h: (release.wait(30), (0, {}, b""))[1])
    try:
        started = time.monotonic()
        with pytest.raises(DeskUnreachable, match="did not answer within 1 s"):
            rest(desk.url, token, timeout=1.0).deliver(note())
        assert time.monotonic() - started < 3
    finally:
        release.set()
        desk.close()


@pytest.mark.parametrize("status,error", [(500, DeskUnreachable), (503, DeskUnreachable),
                                          (401, DeskUnreachable), (400, DeskRejected)],
                         ids=["warn-500-retried-later", "warn-503-retried-later",
                              "warn-401-token-refused-retried-after-the-fix",
                              "crit-400-this-notification-set-aside"])
def test_desk_errors_are_classed_for_the_spool(token: Path, status: int, error: type) -> None:
    desk = HostileDesk(lambda h: (status, {"Content-Type": "application/json"},
                                  json.dumps({"message": "no"}).encode()))
    try:
        with pytest.raises(error) as caught:
            rest(desk.url, token).deliver(note())
        assert "secret-desk-token" not in str(caught.value)
    finally:
        desk.close()


def test_crit_endless_answer_is_cut_at_its_bound(token: Path) -> None:
    desk = HostileDesk(lambda h: (200, {}, b'{"items": [' + b" " * (5 * 1024 * 1024) + b"]}"))
    try:
        with pytest.raises(DeskUnreachable, match="larger than"):
            rest(desk.url, token).deliver(note())
    finally:
        desk.close()


# --- the notify program, as a core runs it ----------------------------------------------------

def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def notify(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "libiaso.servicedesk", *args],
                          capture_output=True, text=True, timeout=60, env=environment)


@pytest.fixture
def desk_down(tmp_path: Path, token: Path) -> Iterator[Path]:
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"origin: core1\nspool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n"
                      f"  url: http://127.0.0.1:{closed_port()}\n  token_file: {token}\n")
    yield config


def test_warn_desk_down_spools_and_exits_0_at_once(desk_down: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    done = notify("-C", str(desk_down), "--type", "PROBLEM", "--host", "h", "--service", "s",
                  "--state", "CRITICAL", "--problem-id", "9", "--notification-id", "4",
                  "--timet", "77", "--output", "down")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 5
    assert "1 notification(s) wait in" in done.stderr and "cannot be reached" in done.stderr
    assert "secret-desk-token" not in done.stderr + done.stdout
    spooled = list((tmp_path / "spool" / "queue").iterdir())
    assert len(spooled) == 1
    assert "secret-desk-token" not in spooled[0].read_text()
    flushed = subprocess.run([str(Path(sys.executable).parent / "iaso-servicedesk-flush"),
                              "-C", str(desk_down), "-t", "5"],
                             capture_output=True, text=True, timeout=60)
    assert flushed.returncode == 1, flushed.stdout
    assert flushed.stdout.startswith("SERVICEDESK SPOOL WARNING - 1 notification(s) wait in")
    assert "| waiting=1;;;0 delivered=0;;;0 rejected=0;;;0" in flushed.stdout


def test_unknown_unreadable_configuration_loses_nothing(tmp_path: Path, token: Path) -> None:
    """A configuration broken by an edit: the notification is held under the default spool
    ($IASO_SERVICEDESK_SPOOL here), and the first run that can read the file again spools it
    under that file's origin and delivers it."""
    config = tmp_path / "servicedesk.yaml"
    config.write_text("desk: {kind: rt-rest, url: 'http://rt.example.net', token_file: t}\n")
    default = {"IASO_SERVICEDESK_SPOOL": str(tmp_path / "default-spool")}
    done = notify("-C", str(config), "--type", "PROBLEM", "--host", "h", "--state", "DOWN",
                  "--problem-id", "3", "--notification-id", "41", "--timet", "1700000000",
                  env=default)
    assert done.returncode == 3
    assert done.stderr.startswith("iaso-servicedesk: configuration unusable: "), done.stderr
    assert "notification kept in " + str(tmp_path / "default-spool" / "held") in done.stderr
    assert "Traceback" not in done.stderr
    assert len(list((tmp_path / "default-spool" / "held").iterdir())) == 1

    delivered: List[Tuple[str, Any]] = []

    def desk_answer(handler: BaseHTTPRequestHandler) -> Tuple[int, Dict, bytes]:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        delivered.append((handler.command, body))
        return (200, {}, b'{"items": []}') if handler.command == "GET" else \
            (201, {}, b'{"id": 12}')

    desk = HostileDesk(desk_answer)
    try:
        config.write_text(f"origin: fixed\nspool: {tmp_path / 'spool'}\ndesk:\n"
                          f"  kind: rt-rest\n  url: {desk.url}\n  token_file: {token}\n")
        flushed = subprocess.run([str(Path(sys.executable).parent / "iaso-servicedesk-flush"),
                                  "-C", str(config), "-t", "10"], capture_output=True,
                                 text=True, timeout=60, env=dict(os.environ, **default))
    finally:
        desk.close()
    assert flushed.stdout.startswith("SERVICEDESK SPOOL OK - spool empty, 1 delivered"), \
        flushed.stdout + flushed.stderr
    assert list((tmp_path / "default-spool" / "held").iterdir()) == []
    assert [m for m, _ in delivered] == ["GET", "POST"]
    fields = delivered[1][1]["CustomFields"]
    assert (fields["IASO problem key"], fields["IASO notifications"]) == \
        ("fixed:3", ["fixed:n41@1700000000"])


def test_ok_notification_about_no_problem_makes_no_ticket(desk_down: Path,
                                                         tmp_path: Path) -> None:
    done = notify("-C", str(desk_down), "--type", "DOWNTIMESTART", "--host", "h", "--state",
                  "UP", "--problem-id", "0", "--last-problem-id", "12")
    assert done.returncode == 0
    assert "concerns no open problem: no ticket" in done.stderr
    assert not (tmp_path / "spool" / "queue").exists()


def test_warn_configuration_not_set_up_yet_still_mails(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from libiaso.servicedesk import commands, settings

    monkeypatch.setattr(settings, "DEFAULT_SPOOL", str(tmp_path / "spool"))
    sendmail = tmp_path / "sendmail"
    sendmail.write_text(f"#!/bin/sh\ncat > {tmp_path}/mail.eml\n")
    sendmail.chmod(0o755)
    result = CliRunner().invoke(commands.notify, [
        "-C", str(tmp_path / "missing.yaml"), "--sendmail", str(sendmail), "--to",
        "desk@example.net", "--type", "PROBLEM", "--host", "h", "--service", "s", "--state",
        "CRITICAL", "--problem-id", "4", "--output", "down"])
    assert result.exit_code == 0, result.output
    assert "missing.yaml does not exist: mail through --sendmail and --to" in result.output
    mail = message_from_bytes((tmp_path / "mail.eml").read_bytes(), policy=policy.default)
    assert mail["To"] == "desk@example.net" and mail["X-IASO-Ticket"] == "nagios:4"


def test_warn_desk_dripping_its_answer_cannot_outlast_the_run(tmp_path: Path,
                                                              token: Path) -> None:
    release = threading.Event()

    def drip(handler: BaseHTTPRequestHandler) -> Tuple[int, Dict, bytes]:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        while not release.is_set():
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:
                break
            release.wait(0.5)         # every read comes well inside any read timeout
        return 0, {}, b""

    desk = HostileDesk(drip)
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\nrequest_timeout: 5\ndesk:\n"
                      f"  kind: rt-rest\n  url: {desk.url}\n  token_file: {token}\n")
    try:
        started = time.monotonic()
        done = notify("-C", str(config), "-t", "4", "--type", "PROBLEM", "--host", "h",
                      "--state", "DOWN", "--problem-id", "8", "--notification-id", "1")
        elapsed = time.monotonic() - started
    finally:
        release.set()
        desk.close()
    assert done.returncode == 0, done.stderr
    assert elapsed < 6, elapsed                      # -t 4, and the interpreter's start
    assert "1 notification(s) wait in" in done.stderr and "deadline" in done.stderr
    assert len(list((tmp_path / "spool" / "queue").iterdir())) == 1


def test_warn_missing_token_file_keeps_the_notification_and_says_why(tmp_path: Path) -> None:
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n"
                      f"  url: http://127.0.0.1:{closed_port()}\n"
                      f"  token_file: {tmp_path / 'absent.token'}\n")
    done = notify("-C", str(config), "--type", "PROBLEM", "--host", "h", "--state", "DOWN",
                  "--problem-id", "5")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "no token to send: token file" in done.stderr and "does not exist" in done.stderr
    assert len(list((tmp_path / "spool" / "queue").iterdir())) == 1
