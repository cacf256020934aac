"""The service-desk bridge against what it cannot trust, one class of defect at a time, across
every place of the bridge the class can reach (the review found one case of each):

- time: a desk, Icinga 2's API or Nagios' command file that takes the bytes slowly or never;
- shape: answers of RT and Icinga 2 in shapes their APIs never give, and spool files likewise;
- files: a FIFO, a directory or a regular file where the bridge expects something else;
- fields: ticket fields that would split an external command, texts that would forge a line of
  a journal or of a plugin's output;
- usage: flush and sync are core checks, so a usage error is UNKNOWN on stdout;
- loss: a configuration that cannot be read, a check printing bytes that are not UTF-8;
- secrets: a desk or a core echoing what it was sent.

The hostile side is a loopback server or a FIFO; RT and the cores themselves are in the
end-to-end modules (test_servicedesk_nagios.py, test_servicedesk_icinga2.py).
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from click.testing import CliRunner
from conftest import ROOT
from review_servers import Dripping, Fixed, Loopback

from libiaso.errors import DeskRejected, DeskUnreachable
from libiaso.servicedesk import commands
from libiaso.servicedesk.acknowledgement import (
    CoreUnreachable,
    IcingaApi,
    NagiosCommandFile,
    synchronise,
)
from libiaso.servicedesk.journal import Journal
from libiaso.servicedesk.notification import Notification, build
from libiaso.servicedesk.rt_rest import CF_HOST, CF_KEY, CF_ORIGIN, CF_SERVICE, RtRest, Ticket
from libiaso.servicedesk.settings import IcingaBack, NagiosBack, RestDesk
from libiaso.servicedesk.spool import Spool

TOKEN = "1-2-hostile-desk-token"
PASSWORD = "icinga-Päss-never-shown"


@pytest.fixture(autouse=True)
def private_default_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test here may touch the machine's own default spool."""
    path = tmp_path / "default-spool"
    monkeypatch.setenv("IASO_SERVICEDESK_SPOOL", str(path))
    return path


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "rt.token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@contextmanager
def ends_within(seconds: float) -> Iterator[None]:
    """Fail the test, instead of hanging the suite, if the block blocks."""
    def expired(signum: int, frame: Any) -> None:
        raise AssertionError(f"still blocked after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def problem(nid: str = "100", host: str = "h", service: str = "s") -> Notification:
    return build(core="nagios", origin="nagios", kind="PROBLEM", host=host, service=service,
                 state="CRITICAL", problem_id="7", last_problem_id="6",
                 core_notification_id=nid, timet="1700000000")


def rest(url: str, token: Path, until: Optional[float] = None) -> RtRest:
    return RtRest(RestDesk(url=url, queue="IASO", token_file=str(token), ca_bundle=None), 2.0,
                  until=until)


class ByMethod(Loopback):
    """Answers each HTTP method with its own status and body; keeps what it was sent."""

    def __init__(self, answers: Dict[str, Tuple[int, bytes]]) -> None:
        self.answers = answers
        self.seen: List[Tuple[str, str, bytes]] = []
        super().__init__()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append((handler.command, handler.path, b""))
        status, body = self.answers[handler.command]
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


# --- shape: RT's answers ---------------------------------------------------------------------

def item(**fields: Any) -> bytes:
    entry = {"id": 1, "Status": "open", "Owner": {"id": "Nobody"}, "CustomFields": []}
    entry.update(fields)
    return json.dumps({"items": [entry]}).encode()


RT_SEARCHES = [
    ("warn-items-an-object", b'{"items": {"id": 1}}', "items is an object, expected an array"),
    ("warn-items-missing", b'{"total": 0}', "items is null, expected an array"),
    ("warn-item-a-number", b'{"items": [5]}', "items[0] is a number, expected an object"),
    ("warn-id-a-boolean", item(id=True), "items[0].id is true, expected a whole number"),
    ("warn-id-missing", item(id=None), "items[0].id is null, expected a whole number"),
    ("warn-id-not-digits", item(id="1 OR 1=1"), "items[0].id is a text, expected a whole"),
    ("warn-status-an-array", item(Status=[]), "items[0].Status is an array, expected a text"),
    ("warn-owner-an-array", item(Owner=["x"]), "items[0].Owner is an array, expected a text"),
    ("warn-custom-fields-a-text", item(CustomFields="x"),
     "items[0].CustomFields is a text, expected an array"),
    ("warn-custom-field-a-number", item(CustomFields=[3]),
     "items[0].CustomFields[0] is a number, expected an object"),
    ("warn-field-name-an-array", item(CustomFields=[{"name": [], "values": []}]),
     "items[0].CustomFields[0].name is an array, expected a text"),
    ("warn-values-a-number", item(CustomFields=[{"name": CF_KEY, "values": 5}]),
     "items[0].CustomFields[0].values is a number, expected an array"),
    ("warn-value-an-object", item(CustomFields=[{"name": CF_KEY, "values": [{"a": 1}]}]),
     "items[0].CustomFields[0].values[0] is an object, expected a text"),
    ("warn-answer-an-array", b"[]", "the answer is an array, expected an object"),
    ("warn-nested-beyond-the-parser", b"[" * 200_000, "is not JSON"),
    ("warn-not-utf8", b'{"items": ["\xff"]}', "is not JSON"),
]


@pytest.mark.parametrize("body,said", [c[1:] for c in RT_SEARCHES],
                         ids=[c[0] for c in RT_SEARCHES])
def test_rt_search_answer_of_another_shape_is_an_unreachable_desk(token: Path, body: bytes,
                                                                  said: str) -> None:
    desk = Fixed(200, body)
    try:
        with pytest.raises(DeskUnreachable) as caught:
            rest(desk.url, token).deliver(problem())
    finally:
        desk.close()
    assert said in caught.value.message, caught.value.message
    assert caught.value.message.startswith(desk.url + ": GET tickets: "), caught.value.message


RT_CREATIONS = [
    ("warn-id-missing", b'{"_url": "x"}', "id is null, expected a whole number"),
    ("warn-id-a-text", b'{"id": "12abc"}', "id is a text, expected a whole number"),
    ("warn-id-a-fraction", b'{"id": 1.5}', "id is a number, expected a whole number"),
    ("warn-answer-an-array", b"[12]", "the answer is an array, expected an object"),
    ("warn-empty-answer", b"", "the answer is null, expected an object"),
]


@pytest.mark.parametrize("body,said", [c[1:] for c in RT_CREATIONS],
                         ids=[c[0] for c in RT_CREATIONS])
def test_rt_creation_answer_without_a_usable_id_keeps_the_notification(
        token: Path, body: bytes, said: str) -> None:
    desk = ByMethod({"GET": (200, b'{"items": []}'), "POST": (201, body)})
    try:
        with pytest.raises(DeskUnreachable, match=re.escape(said)):
            rest(desk.url, token).deliver(problem())
    finally:
        desk.close()


def test_ok_rt_ticket_of_the_usual_shape_is_read() -> None:
    ticket = Ticket({"id": "7", "Status": "open", "Owner": {"id": "alice"},
                     "LastUpdatedBy": "bob", "CustomFields": [
                         {"name": CF_KEY, "values": ["nagios:12"]},
                         {"name": CF_SERVICE, "values": None}]})
    assert (ticket.id, ticket.owner, ticket.last_updated_by) == (7, "alice", "bob")
    assert (ticket.field(CF_KEY), ticket.field(CF_SERVICE)) == ("nagios:12", "")


def test_warn_spooled_file_nested_beyond_the_parser_is_set_aside(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"))
    spool.put(problem())
    Path(spool.queue, "00000000000000000000-0000000-0000.json").write_text("[" * 200_000)
    taken: List[Notification] = []
    report = spool.flush(taken.append, time.monotonic() + 10)
    assert (report.delivered, report.rejected, len(taken)) == (1, 1, 1)


# --- shape: Icinga 2's answers ---------------------------------------------------------------

def icinga(url: str, tmp_path: Path, until: Optional[float] = None) -> IcingaApi:
    secret = tmp_path / "icinga.password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return IcingaApi(IcingaBack(url=url, ca_bundle=str(tmp_path / "ca.crt"), username="sync",
                                password_file=str(secret)), 2.0, until=until)


ICINGA_STATES = [
    ("warn-results-an-object", b'{"results": {}}', "results is an object, expected an array"),
    ("warn-result-a-number", b'{"results": [1]}', "results[0] is a number, expected an object"),
    ("warn-attrs-an-array", b'{"results": [{"attrs": []}]}',
     "results[0].attrs is an array, expected an object"),
    ("warn-state-a-word", b'{"results": [{"attrs": {"state": "two"}}]}',
     "results[0].attrs.state is a text, expected a finite number"),
    ("warn-anchor-infinite", b'{"results": [{"attrs": {"state": 2, "last_state_ok": "inf"}}]}',
     "results[0].attrs.last_state_ok is a text, expected a finite number"),
    ("warn-acknowledgement-an-object",
     b'{"results": [{"attrs": {"state": 2, "last_state_ok": 1, "acknowledgement": {}}}]}',
     "results[0].attrs.acknowledgement is an object, expected a number"),
    ("warn-nested-beyond-the-parser", b"[" * 200_000, "is not JSON"),
]


@pytest.mark.parametrize("body,said", [c[1:] for c in ICINGA_STATES],
                         ids=[c[0] for c in ICINGA_STATES])
def test_icinga_state_answer_of_another_shape_is_an_unreachable_core(
        tmp_path: Path, body: bytes, said: str) -> None:
    api = Fixed(200, body)
    try:
        with pytest.raises(CoreUnreachable, match=re.escape(said)):
            icinga(api.url, tmp_path).current("h", "s")
    finally:
        api.close()


@pytest.mark.parametrize("body,said", [
    (b'{"results": [{"code": "done"}]}', "results[0].code is a text, expected a finite number"),
    (b'{"results": 200}', "results is a number, expected an array"),
    (b'{"results": [], "status": "No objects found."}',
     "did not take the acknowledgement (No objects found.)"),
], ids=["warn-code-a-word", "warn-results-a-number", "warn-no-object"])
def test_icinga_acknowledgement_answer_of_another_shape_is_an_unreachable_core(
        tmp_path: Path, body: bytes, said: str) -> None:
    api = Fixed(200, body)
    try:
        with pytest.raises(CoreUnreachable, match=re.escape(said)):
            icinga(api.url, tmp_path).acknowledge("h", "s", "iaso", "RT#1 taken by alice")
    finally:
        api.close()


def test_ok_icinga_state_of_the_usual_shape_is_read(tmp_path: Path) -> None:
    api = Fixed(200, b'{"results": [{"attrs": {"state": 2.0, "acknowledgement": 0.0, '
                     b'"last_state_ok": 1732541234.123456}, "name": "h!s"}]}')
    try:
        now = icinga(api.url, tmp_path).current("h", "s")
    finally:
        api.close()
    assert now is not None and now.problem == "1732541234.123456" and not now.acknowledged


# --- secrets echoed back -----------------------------------------------------------------------

def test_crit_desk_refusal_echoing_the_token_never_shows_it(token: Path) -> None:
    echoed = base64.b64encode(TOKEN.encode()).decode()
    body = json.dumps({"message": f"token {TOKEN} ({echoed}) is not valid here"}).encode()
    desk = ByMethod({"GET": (400, body)})
    try:
        with pytest.raises(DeskRejected) as caught:
            rest(desk.url, token).deliver(problem())
    finally:
        desk.close()
    assert "is not valid here" in caught.value.message
    assert TOKEN not in caught.value.message and echoed not in caught.value.message


def test_crit_icinga_answer_echoing_the_password_never_shows_it(tmp_path: Path) -> None:
    body = json.dumps({"results": [], "status": f"user sync:{PASSWORD} may not"}).encode()
    api = Fixed(500, body)
    try:
        with pytest.raises(CoreUnreachable) as caught:
            icinga(api.url, tmp_path).acknowledge("h", "s", "iaso", "RT#1 taken by alice")
    finally:
        api.close()
    assert "may not" in caught.value.message and PASSWORD not in caught.value.message


# --- time: nothing outlives the run -----------------------------------------------------------

def test_warn_icinga_api_dripping_its_answer_ends_at_the_run_s_end(tmp_path: Path) -> None:
    """Read piece by piece, with the run's end checked between pieces: no alarm needed."""
    api = Dripping()
    try:
        started = time.monotonic()
        with ends_within(8), pytest.raises(CoreUnreachable, match="deadline"):
            icinga(api.url, tmp_path, until=started + 1.5).current("h", "s")
        assert time.monotonic() - started < 3
    finally:
        api.close()


def test_warn_rt_dripping_its_answer_ends_at_the_run_s_end(token: Path) -> None:
    desk = Dripping()
    try:
        started = time.monotonic()
        with ends_within(8), pytest.raises(DeskUnreachable, match="deadline"):
            rest(desk.url, token, until=started + 1.5).deliver(problem())
        assert time.monotonic() - started < 3
    finally:
        desk.close()


def fifo_with_a_reader(path: Path) -> int:
    """A FIFO and a reader that never reads unless asked (a core busy elsewhere)."""
    os.mkfifo(path)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def test_warn_command_file_the_core_does_not_empty_ends_at_the_run_s_end(tmp_path: Path) -> None:
    path = tmp_path / "nagios.cmd"
    reader = fifo_with_a_reader(path)
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:                     # the pipe is full: the core has stopped reading
            try:
                os.write(writer, b"x" * 4096)
            except BlockingIOError:
                break
        core = NagiosCommandFile(NagiosBack(str(path), None), until=time.monotonic() + 1)
        started = time.monotonic()
        with ends_within(8), pytest.raises(CoreUnreachable, match="took nothing"):
            core.acknowledge("h", "s", "iaso", "RT#1 taken by alice")
        assert time.monotonic() - started < 2.5
    finally:
        os.close(writer)
        os.close(reader)


def test_warn_flush_ends_within_t_when_the_desk_drips(tmp_path: Path, token: Path) -> None:
    desk = Dripping()
    Spool(str(tmp_path / "spool")).put(problem())
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\nrequest_timeout: 5\ndesk:\n  kind: rt-rest"
                      f"\n  url: {desk.url}\n  token_file: {token}\n")
    try:
        started = time.monotonic()
        done = subprocess.run([str(Path(sys.executable).parent / "iaso-servicedesk-flush"),
                               "-C", str(config), "-t", "3"], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        elapsed = time.monotonic() - started
    finally:
        desk.close()
    assert elapsed < 5.5, elapsed
    assert done.returncode == 1 and done.stdout.startswith("SERVICEDESK SPOOL WARNING - 1 "), \
        done.stdout + done.stderr
    assert "deadline" in done.stdout
    assert len(list((tmp_path / "spool" / "queue").iterdir())) == 1


# --- files: nothing but what each file should be --------------------------------------------

def test_ok_command_file_that_is_a_fifo_with_a_reader_gets_one_whole_line(
        tmp_path: Path) -> None:
    path = tmp_path / "nagios.cmd"
    reader = fifo_with_a_reader(path)
    try:
        NagiosCommandFile(NagiosBack(str(path), None), clock=lambda: 1700000000.0,
                          until=time.monotonic() + 5).acknowledge(
            "db-prod-01", "IASO backup", "iaso-servicedesk", "RT#7 taken by alice")
        assert os.read(reader, 65536) == (b"[1700000000] ACKNOWLEDGE_SVC_PROBLEM;db-prod-01;"
                                          b"IASO backup;2;1;0;iaso-servicedesk;"
                                          b"RT#7 taken by alice\n")
    finally:
        os.close(reader)


@pytest.mark.parametrize("kind,said", [
    ("regular", "is not a FIFO"), ("directory", "is not a FIFO"),
    ("fifo-without-reader", "no core reads it"), ("absent", "No such file"),
    ("socket", "is not a FIFO"), ("device", "is not a FIFO"),
], ids=["warn-regular-file-refused-untouched", "warn-directory-refused",
        "warn-fifo-nobody-reads", "warn-absent", "warn-unix-socket-refused",
        "warn-device-refused-unopened"])
def test_command_file_that_no_core_reads_takes_nothing(tmp_path: Path, kind: str, said: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nagios.cmd"
    opened: List[str] = []
    real_open = os.open

    def recording_open(name: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(name))
        return real_open(name, *args, **kwargs)
    listening = socket.socket(socket.AF_UNIX)
    if kind == "regular":
        path.write_text("")
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo-without-reader":
        os.mkfifo(path)
    elif kind == "socket":
        listening.bind(str(path))
        listening.listen()
    elif kind == "device":
        path.symlink_to("/dev/null")
    core = NagiosCommandFile(NagiosBack(str(path), None), until=time.monotonic() + 5)
    monkeypatch.setattr(os, "open", recording_open)
    with listening, ends_within(5), pytest.raises(CoreUnreachable, match=said):
        core.acknowledge("h", "s", "iaso", "RT#1 taken by alice")
    monkeypatch.undo()
    if kind == "regular":
        assert path.read_text() == ""
    if kind != "fifo-without-reader":
        assert str(path) not in opened


def test_warn_status_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    status = tmp_path / "status.dat"
    os.mkfifo(status)
    core = NagiosCommandFile(NagiosBack(str(tmp_path / "nagios.cmd"), str(status)))
    with ends_within(5), pytest.raises(CoreUnreachable, match="not a regular file"):
        core.current("h", "s")


def test_unknown_spool_lock_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"))
    spool.put(problem())
    os.mkfifo(tmp_path / "spool" / ".lock")
    with ends_within(5), pytest.raises(OSError, match="not a regular file"):
        spool.flush(lambda n: None, time.monotonic() + 5)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_crit_queue_entry_that_is_no_file_is_set_aside_and_the_queue_moves(
        tmp_path: Path, kind: str) -> None:
    spool = Spool(str(tmp_path / "spool"))
    spool.put(problem())
    odd = Path(spool.queue, "00000000000000000000-0000000-0000.json")
    os.mkfifo(odd) if kind == "fifo" else odd.mkdir()
    taken: List[Notification] = []
    journal: List[str] = []
    with ends_within(5):
        report = spool.flush(taken.append, time.monotonic() + 5, journal=journal.append)
    assert (report.delivered, report.rejected, len(taken)) == (1, 1, 1)
    assert "is not a regular file" in journal[0] or "is a directory" in journal[0], journal
    kept = Path(spool.rejected, odd.name)
    assert stat.S_ISFIFO(kept.lstat().st_mode) if kind == "fifo" else kept.is_dir()


def test_warn_journal_that_is_a_fifo_is_said_and_the_flush_goes_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "journal")
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\njournal: {tmp_path / 'journal'}\n"
                      f"desk: {{kind: mail, to: desk@example.net, sendmail: /bin/true}}\n")
    Spool(str(tmp_path / "spool")).put(problem())
    with ends_within(15):
        result = CliRunner().invoke(commands.flush, ["-C", str(config), "-t", "5"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SERVICEDESK SPOOL OK - spool empty, 1 delivered"), lines
    assert lines[1] == f"journal {tmp_path / 'journal'} cannot be written: is not a regular file"


# --- fields: nothing splits a command, nothing forges a line ------------------------------------

def taken(host: str, service: str = "IASO backup", key: str = "nagios:12",
          origin: str = "nagios") -> Ticket:
    return Ticket({"id": 7, "Status": "open", "Owner": {"id": "alice"}, "CustomFields": [
        {"name": CF_KEY, "values": [key]}, {"name": CF_ORIGIN, "values": [origin]},
        {"name": CF_HOST, "values": [host]}, {"name": CF_SERVICE, "values": [service]}]})


class Desk:
    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.marked: List[str] = []

    def to_acknowledge(self, origin: str) -> List[Tuple[Ticket, str]]:
        return [(self.ticket, "taken")]

    def mark_acknowledged(self, ticket: Ticket, text: str) -> None:
        self.marked.append(text)


TICKETS = [
    ("ok-plain-names", taken("db-prod-01"), ""),
    ("ok-host-ticket", taken("db-prod-01", service=""), ""),
    ("ok-naemon-uuid-key", taken("db", key="nagios:39dbb346-f483-49fe-8211-feec8edf90ea"), ""),
    ("warn-semicolon-in-host", taken("db;MySQL;2;1;0;x"), "'IASO host' holds ';'"),
    ("warn-semicolon-in-service", taken("db", "b;2;1;0;x"), "'IASO service' holds ';'"),
    ("warn-line-feed-in-host", taken("db\n[1] RESTART_PROGRAM"), "holds the character U+000A"),
    ("warn-next-line-in-service", taken("db", "b\x85x"), "holds the character U+0085"),
    ("warn-line-separator-in-host", taken("db\u2028x"), "holds the character U+2028"),
    ("warn-nul-in-host", taken("db\x00x"), "holds the character U+0000"),
    ("warn-bidi-override-in-host", taken("db\u202ex"), "holds the character U+202E"),
    ("warn-empty-host", taken(""), "'IASO host' is empty"),
    ("warn-key-of-another-origin", taken("db", key="other:12"), "is not nagios's"),
    ("warn-origin-field-edited", taken("db", origin="other"), "is not nagios's"),
    ("warn-key-that-is-no-problem-id", taken("db", key="nagios:12;x"), "names no problem"),
    ("warn-key-without-problem", taken("db", key="nagios:"), "names no problem"),
]


@pytest.mark.parametrize("ticket,refused", [t[1:] for t in TICKETS], ids=[t[0] for t in TICKETS])
def test_ticket_fields_that_would_split_the_command_are_refused(
        tmp_path: Path, ticket: Ticket, refused: str) -> None:
    path = tmp_path / "nagios.cmd"
    reader = fifo_with_a_reader(path)
    try:
        core = NagiosCommandFile(NagiosBack(str(path), None), clock=lambda: 1700000000.0,
                                 until=time.monotonic() + 5)
        desk = Desk(ticket)
        report = synchronise(desk, core, "nagios", "nagios", "iaso-servicedesk")  # type: ignore[arg-type]
        try:
            written = os.read(reader, 65536).decode()
        except BlockingIOError:
            written = ""
    finally:
        os.close(reader)
    if refused:
        assert written == "" and desk.marked == [] and report.acknowledged == []
        assert len(report.refused) == 1 and refused in report.refused[0], report.refused
    else:
        fields = written.rstrip("\n").split("] ", 1)[1].split(";")
        service = ticket.field(CF_SERVICE)
        assert fields[1:3 if service else 2] == [ticket.field(CF_HOST)] + ([service] if service
                                                                            else [])
        assert len(fields) == (8 if service else 7) and written.count("\n") == 1
        assert desk.marked == ["RT#7 taken by alice"]


def test_ok_journal_keeps_one_line_per_event_whatever_it_quotes(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    journal = Journal(str(path), "iaso-servicedesk-notify", loud=False)
    journal("spooled PROBLEM h\n2026-01-01T00:00:00 iaso-servicedesk-notify[1] forged")
    journal("desk said: a\r\u2028b\x85c")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("spooled PROBLEM h 2026-01-01T00:00:00 iaso-servicedesk-notify[1] "
                             "forged")
    assert lines[1].endswith("desk said: a b c")


def test_warn_desk_refusal_text_cannot_forge_the_sync_output(tmp_path: Path,
                                                             token: Path) -> None:
    desk = ByMethod({"GET": (400, json.dumps({"message": "no | waiting=0;;;0\nOK"}).encode())})
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n  url: {desk.url}"
                      f"\n  token_file: {token}\nacknowledge:\n  nagios_command_file: "
                      f"{tmp_path / 'nagios.cmd'}\n")
    try:
        result = CliRunner().invoke(commands.sync, ["-C", str(config), "-t", "5"])
    finally:
        desk.close()
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("SERVICEDESK SYNC WARNING - desk unreachable: ")
    assert result.stdout.count("\n") == 1 and "|" not in result.stdout, result.stdout
    assert "no / waiting=0;;;0 OK" in result.stdout


# --- usage: flush and sync are core checks ---------------------------------------------------

USAGE = [
    ("unknown-option-misspelt", ["--timout", "5"], "No such option"),
    ("unknown-timeout-not-a-number", ["-t", "soon"], "is not a number of seconds"),
    ("unknown-timeout-nan", ["-t", "nan"], "expected seconds above 0"),
    ("unknown-timeout-infinite", ["-t", "inf"], "expected seconds above 0"),
    ("unknown-timeout-zero", ["-t", "0"], "expected seconds above 0"),
    ("unknown-timeout-negative", ["-t", "-5"], "expected seconds above 0"),
]


@pytest.mark.parametrize("program,label", [(commands.flush, "SERVICEDESK SPOOL"),
                                           (commands.sync, "SERVICEDESK SYNC")],
                         ids=["flush", "sync"])
@pytest.mark.parametrize("argv,said", [u[1:] for u in USAGE], ids=[u[0] for u in USAGE])
def test_usage_error_is_unknown_with_one_line_on_stdout(program: Any, label: str,
                                                        argv: List[str], said: str) -> None:
    result = CliRunner().invoke(program, argv)
    assert result.exit_code == 3, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{label} UNKNOWN - usage: "), lines
    assert said in lines[0]
    assert result.stderr == ""


@pytest.mark.parametrize("program", [commands.flush, commands.sync], ids=["flush", "sync"])
def test_ok_version_and_help_still_exit_0(program: Any) -> None:
    assert CliRunner().invoke(program, ["-V"]).exit_code == 0
    helped = CliRunner().invoke(program, ["-h"])
    assert helped.exit_code == 0 and "-t, --timeout" in helped.stdout


# --- loss: nothing is lost before the spool ----------------------------------------------------

NOTIFY = ["--type", "PROBLEM", "--host", "h", "--service", "s", "--state", "CRITICAL",
          "--problem-id", "9", "--notification-id", "4", "--timet", "1700000000"]


def test_crit_configuration_unusable_and_nowhere_to_hold_is_said_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setenv("IASO_SERVICEDESK_SPOOL", str(blocked))
    config = tmp_path / "servicedesk.yaml"
    config.write_text("desk: [\n")
    result = CliRunner().invoke(commands.notify, ["-C", str(config), *NOTIFY])
    assert result.exit_code == 2
    assert result.stderr.startswith("iaso-servicedesk: notification LOST: configuration "
                                    "unusable ("), result.stderr
    assert "cannot keep it" in result.stderr


def test_warn_notification_held_for_another_configuration_stays_held(
        tmp_path: Path, private_default_spool: Path) -> None:
    broken = tmp_path / "other.yaml"
    broken.write_text("desk: [\n")
    assert CliRunner().invoke(commands.notify, ["-C", str(broken), *NOTIFY]).exit_code == 3
    mine = tmp_path / "servicedesk.yaml"
    mine.write_text(f"spool: {tmp_path / 'spool'}\n"
                    f"desk: {{kind: mail, to: desk@example.net, sendmail: /bin/true}}\n")
    result = CliRunner().invoke(commands.flush, ["-C", str(mine), "-t", "5"])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("SERVICEDESK SPOOL WARNING - 1 notification(s) held in "
                                    f"{private_default_spool / 'held'} for another"), \
        result.stdout
    assert len(list((private_default_spool / "held").iterdir())) == 1


def test_ok_output_in_another_encoding_is_spooled_not_lost(tmp_path: Path) -> None:
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n"
                      f"  url: http://127.0.0.1:9\n  token_file: {tmp_path / 'absent'}\n")
    argv = [sys.executable.encode(), b"-m", b"libiaso.servicedesk", b"-C", str(config).encode(),
            b"-t", b"3", *[a.encode() for a in NOTIFY], b"--output", b"Sauvegarde \xe9chou\xe9e",
            b"--host", b"h\xff"]
    done = subprocess.run(argv, capture_output=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8"))
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    spooled = list((tmp_path / "spool" / "queue").iterdir())
    assert len(spooled) == 1
    kept = Notification.from_json(spooled[0].read_text(encoding="utf-8"))
    assert (kept.output, kept.host) == ("Sauvegarde \ufffdchou\ufffde", "h\ufffd")


BAD_SETTINGS = [
    ("unknown-timeout-infinite", {"timeout": float("inf")}, "at most 3600 seconds"),
    ("unknown-request-timeout-absurd", {"request_timeout": 1e12}, "at most 3600 seconds"),
    ("unknown-settle-an-hour", {"settle": 3600}, "at most 60 seconds"),
    ("unknown-author-with-semicolon", {"acknowledge": {"author": "a;b"}}, "no ';'"),
    ("unknown-author-with-line-feed", {"acknowledge": {"author": "a\nb"}}, "no ';'"),
    ("unknown-port-out-of-range", {"desk": {"kind": "rt-rest", "url": "http://127.0.0.1:99999",
                                            "token_file": "t"}}, "HTTP library can use"),
    ("unknown-ipv6-unclosed", {"desk": {"kind": "rt-rest", "url": "http://[::1",
                                        "token_file": "t"}}, "expected an http(s) URL"),
]


@pytest.mark.parametrize("data,said", [b[1:] for b in BAD_SETTINGS],
                         ids=[b[0] for b in BAD_SETTINGS])
def test_configuration_beyond_reason_is_refused(tmp_path: Path, data: Dict[str, Any],
                                                said: str) -> None:
    from libiaso.errors import ConfigError
    from libiaso.servicedesk.settings import parse_settings

    with pytest.raises(ConfigError, match=re.escape(said)):
        parse_settings(data, str(tmp_path / "servicedesk.yaml"))


def test_warn_notify_with_a_spool_lock_it_cannot_take_keeps_the_notification_and_says_so(
        tmp_path: Path) -> None:
    (tmp_path / "spool" / ".lock").mkdir(parents=True)
    journal = tmp_path / "journal.log"
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\njournal: {journal}\nsettle: 0\n"
                      f"desk: {{kind: mail, to: desk@example.net, sendmail: /bin/true}}\n")
    result = CliRunner().invoke(commands.notify, ["-C", str(config), "-t", "5", *NOTIFY])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert len(list((tmp_path / "spool" / "queue").iterdir())) == 1
    assert "1 notification(s) wait in" in result.stderr and "spool unusable" in result.stderr
    assert "spool unusable" in journal.read_text()


def test_warn_sync_stopped_by_the_core_says_so_on_stdout(tmp_path: Path, token: Path) -> None:
    desk = Dripping()
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n  url: {desk.url}"
                      f"\n  token_file: {token}\nacknowledge:\n  nagios_command_file: "
                      f"{tmp_path / 'nagios.cmd'}\n")
    try:
        sync = subprocess.Popen([str(Path(sys.executable).parent / "iaso-servicedesk-sync"),
                                 "-C", str(config), "-t", "30"], stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        time.sleep(2)
        sync.terminate()
        out, _ = sync.communicate(timeout=10)
    finally:
        desk.close()
    assert sync.returncode == 1, out
    assert out.startswith("SERVICEDESK SYNC WARNING - stopped before the end: stopped by "
                          "SIGTERM"), out


def test_unknown_sync_stopped_while_starting_has_asked_nothing(tmp_path: Path,
                                                               token: Path) -> None:
    """A stop noted before the sync armed its deadline: nothing was asked of the desk, so it
    is the run's own end (UNKNOWN), not the desk's fault (WARNING)."""
    from libiaso.deadline import EARLY_STOPS

    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n  url: "
                      f"http://127.0.0.1:9\n  token_file: {token}\nacknowledge:\n  "
                      f"nagios_command_file: {tmp_path / 'nagios.cmd'}\n")
    EARLY_STOPS.append(signal.SIGHUP)
    try:
        result = CliRunner().invoke(commands.sync, ["-C", str(config), "-t", "5"])
    finally:
        EARLY_STOPS.clear()
    assert result.exit_code == 3, result.output
    assert result.stdout == ("SERVICEDESK SYNC UNKNOWN - stopped by SIGHUP while starting\n")


@pytest.mark.parametrize("command", ["iaso-servicedesk-flush", "iaso-servicedesk-sync"])
def test_a_stop_signal_after_the_line_is_printed_keeps_its_exit_code(tmp_path: Path,
                                                                     command: str) -> None:
    """Python gives the signals back their default while it tears down: a SIGTERM then would
    end the process by the signal, its printed state lost to the core. The commands leave as
    the probes do, the signals ignored once the line is out."""
    script = tmp_path / "late_stop.py"
    script.write_text(
        "import atexit, os, signal, sys\n"
        "def stop_at_teardown():\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # as the teardown leaves it\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "atexit.register(stop_at_teardown)\n"
        f"from libiaso.servicedesk.commands import {command.rsplit('-', 1)[1]} as command\n"
        f"sys.argv = [{command!r}, '--help']\n"
        "command()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=30)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert done.stdout.startswith("Usage:"), done.stdout
