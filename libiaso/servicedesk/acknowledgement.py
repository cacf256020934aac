"""The way back: a ticket someone has taken, or resolved by hand before the recovery, becomes an
acknowledgement of its problem in the core, with a comment carrying the ticket number in one
stable pattern (``RT#123``) that a console can turn into a link.

Each ticket is acknowledged once: the ticket is marked once the core took the acknowledgement,
and before writing, the core itself is asked whether the problem is still the ticket's own and
not acknowledged yet (Nagios' status file; Icinga 2's API), so that an acknowledgement made by
hand in the console, or a problem already over, is never acknowledged again.

A ticket's fields are the desk's text: anyone who may edit the ticket can change them. So a
ticket is acknowledged only if its key is one this core could have given (this origin, a problem
ID of the core's form) and its host and service can name an object in an external command
(no ';', which separates the command's fields, and no control or line-separator character,
which ends it); the core's answer then ties the key to that object (a Nagios problem ID is
unique in the core). Any other ticket is left alone, and said so.
"""
from __future__ import annotations

import base64
import errno
import os
import re
import select
import time
import unicodedata
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import requests

from ..errors import IasoError
from ..local_files import open_pipe_writer, open_regular
from .rt_rest import CF_HOST, CF_KEY, CF_ORIGIN, CF_SERVICE, RtRest, Ticket
from .settings import IcingaBack, NagiosBack
from .wire import Json, Wire

STATUS_FILE_LIMIT = 512 * 1024 * 1024
STATUS_LINE_LIMIT = 1024 * 1024
PIPE_BUF = getattr(select, "PIPE_BUF", 4096)   # one write up to this size is atomic on a FIFO

# The problem IDs each core hands out: Nagios 4 a counter, Naemon a UUID (1.4.3 on), Icinga 2
# the time of the last OK check (ticket_key.py).
PROBLEM_FORMS = {
    "nagios": re.compile(r"\d{1,18}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"),
    "icinga2": re.compile(r"\d{1,12}(\.\d{1,9})?"),
}


class CoreUnreachable(IasoError):
    """The core cannot take an acknowledgement now; the next run tries again."""


class Problem(NamedTuple):
    """What the core says of an object now."""

    problem: Optional[str]    # the current problem's ID (Nagios) or anchor (Icinga 2); None: OK
    acknowledged: bool


def comment_for(ticket: Ticket, why: str) -> str:
    """The acknowledgement's comment; ``RT#<n>`` is the stable pattern (docs/service-desk.md).

    A desk's user names are the desk's text: only name characters are kept, since the core's
    ACKNOWLEDGEMENT notification hands this comment to every contact's command, and not every
    site's commands keep it away from a shell.
    """
    if why == "taken":
        return clean(f"RT#{ticket.id} taken by {person(ticket.owner)}")
    return clean(f"RT#{ticket.id} resolved by hand by {person(ticket.last_updated_by)} "
                 f"before recovery")


def person(name: str) -> str:
    return re.sub(r"[^\w@.+-]", "_", name)[:80] or "someone"


def clean(text: str) -> str:
    """One line, no field separator of the external command syntax, bounded."""
    return "".join(" " if unfit(c) else c for c in text).strip()[:400]


def unfit(char: str) -> bool:
    """A character that cannot travel inside one field of an external command: the field
    separator, a control character (line breaks included) or a line or paragraph separator;
    format characters (bidirectional overrides, zero-width) too, which hide what a name is."""
    return char == ";" or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs")


def name_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot name a host or a service in an external command, or None."""
    if not value.strip():
        return "is empty"
    bad = next((c for c in value if unfit(c)), None)
    if bad is not None:
        return "holds ';'" if bad == ";" else f"holds the character U+{ord(bad):04X}"
    return None


def ticket_problem(ticket: Ticket, core: str, origin: str) -> Tuple[str, str, str]:
    """The ticket's host, service and problem, once checked to be an object and a problem this
    core could have given; raises ``Refused`` naming the field that is not."""
    key = ticket.field(CF_KEY)
    key_origin, _, problem = key.partition(":")
    if ticket.field(CF_ORIGIN) != origin or key_origin != origin:
        raise Refused(f"#{ticket.id}: its key {clean(key)[:80]!r} or origin is not {origin}'s")
    if not PROBLEM_FORMS[core].fullmatch(problem):
        raise Refused(f"#{ticket.id}: its key {clean(key)[:80]!r} names no problem of {core}")
    host, service = ticket.field(CF_HOST), ticket.field(CF_SERVICE)
    for name, value, required in ((CF_HOST, host, True), (CF_SERVICE, service, False)):
        if not required and value == "":
            continue
        why = name_problem(value)
        if why:
            raise Refused(f"#{ticket.id}: its field {name!r} {why}")
    return host, service, problem


class Refused(Exception):
    """A ticket whose fields cannot be acknowledged safely; the message says which field."""


# --- Nagios 4 / Naemon -------------------------------------------------------------------------

class NagiosCommandFile:
    """Nagios 4 / Naemon: one ACKNOWLEDGE_* line into the external command FIFO."""

    def __init__(self, back: NagiosBack, clock: Callable[[], float] = time.time,
                 until: Optional[float] = None) -> None:
        self.back = back
        self.clock = clock
        self.until = until               # the run's own end (monotonic)

    def current(self, host: str, service: str) -> Optional[Problem]:
        """The object's problem as status.dat shows it; None without a status file."""
        if not self.back.status_file:
            return None
        wanted = ("servicestatus" if service else "hoststatus", host, service)
        for kind, fields in _status_blocks(self.back.status_file):
            if kind != wanted[0] or fields.get("host_name") != host:
                continue
            if service and fields.get("service_description") != service:
                continue
            problem = fields.get("current_problem_id", "0")
            ok = fields.get("current_state", "0") == "0"
            return Problem(None if ok or problem in ("", "0") else problem,
                           fields.get("problem_has_been_acknowledged") == "1")
        return Problem(None, False)

    def acknowledge(self, host: str, service: str, author: str, comment: str) -> None:
        fields = [host, service] if service else [host]
        for value in (*fields, author, comment):
            if name_problem(value):
                raise CoreUnreachable(f"refused to write an acknowledgement whose field "
                                      f"{clean(value)[:80]!r} {name_problem(value)}")
        verb = "ACKNOWLEDGE_SVC_PROBLEM" if service else "ACKNOWLEDGE_HOST_PROBLEM"
        command = ";".join([verb, *fields, "2", "1", "0", author, comment])
        line = f"[{int(self.clock())}] {command}\n".encode()
        if len(line) > PIPE_BUF:
            raise CoreUnreachable("acknowledgement longer than one atomic pipe write")
        fd = self._open()
        try:
            self._write(fd, line)
        finally:
            os.close(fd)

    def _open(self) -> int:
        """The command file, opened without blocking, refused unless a FIFO: a regular file or
        anything else named there would take the line and hand it to no core."""
        path = self.back.command_file
        try:
            return open_pipe_writer(path)
        except OSError as exc:
            reason = "no core reads it" if exc.errno == errno.ENXIO else exc.strerror
            raise CoreUnreachable(f"command file {path}: {reason}") from None

    def _write(self, fd: int, line: bytes) -> None:
        """The line, whole, once the core's pipe has room for it, before the run's end."""
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while True:
            left = 5.0 if self.until is None else self.until - time.monotonic()
            if left <= 0:
                raise CoreUnreachable(f"command file {self.back.command_file}: the core took "
                                      f"nothing before this run's deadline")
            poller.poll(min(left, 1.0) * 1000)
            try:
                os.write(fd, line)
                return
            except BlockingIOError:
                continue
            except OSError as exc:
                reason = "no core reads it" if exc.errno == errno.EPIPE else exc.strerror
                raise CoreUnreachable(f"command file {self.back.command_file}: "
                                      f"{reason}") from None


def _status_blocks(path: str) -> Iterator[Tuple[str, Dict[str, str]]]:
    """(kind, fields) of each block of a Nagios status file, streamed and bounded."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except OSError as exc:
        raise CoreUnreachable(f"status file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as handle:
        kind = ""
        fields: Dict[str, str] = {}
        read = 0
        while True:
            line = handle.readline(STATUS_LINE_LIMIT)
            if not line:
                return
            read += len(line)
            if read > STATUS_FILE_LIMIT or (len(line) >= STATUS_LINE_LIMIT
                                            and not line.endswith("\n")):
                raise CoreUnreachable(f"status file {path} is larger than its bound")
            stripped = line.strip()
            if stripped.endswith("{"):
                kind, fields = stripped[:-1].strip(), {}
            elif stripped == "}":
                yield kind, fields
                kind = ""
            elif kind and "=" in stripped:
                name, _, value = stripped.partition("=")
                fields[name] = value


# --- Icinga 2 ----------------------------------------------------------------------------------

class IcingaApi:
    """Icinga 2: the object's state and POST /v1/actions/acknowledge-problem, certificate
    verified against the configured CA (wire.py: one origin, bounded, within the run)."""

    def __init__(self, back: IcingaBack, timeout: float,
                 session: Optional[requests.Session] = None,
                 until: Optional[float] = None) -> None:
        self.back = back
        self.wire = Wire(back.url, failure=CoreUnreachable, timeout=timeout, until=until,
                         ca_bundle=back.ca_bundle, session=session)
        self._authorization: Optional[str] = None

    def _call(self, path: str, body: Dict[str, Any], query: bool = False) -> Json:
        if self._authorization is None:
            password = self.wire.secret(self.back.password().reveal())
            pair = f"{self.back.username}:{password}".encode()
            self._authorization = self.wire.secret("Basic " + base64.b64encode(pair).decode())
        headers = {"Accept": "application/json", "Authorization": self._authorization}
        if query:
            headers["X-HTTP-Method-Override"] = "GET"
        reply = self.wire.exchange("POST", path.lstrip("/"), body=body, headers=headers)
        status = reply.status
        if status in (401, 403):
            raise CoreUnreachable(f"{self.back.url} refused user {self.back.username} "
                                  f"(HTTP {status})")
        if not 200 <= status < 300 and status not in (404, 409, 500):
            raise CoreUnreachable(f"{self.back.url} answered HTTP {status}: "
                                  f"{self.wire.message(reply)}")
        return self.wire.json(reply, f"POST {path}")

    @staticmethod
    def _filter(host: str, service: str) -> Dict[str, Any]:
        if service:
            return {"type": "Service", "filter": "host.name==h && service.name==s",
                    "filter_vars": {"h": host, "s": service}}
        return {"type": "Host", "filter": "host.name==h", "filter_vars": {"h": host}}

    def current(self, host: str, service: str) -> Optional[Problem]:
        target = self._filter(host, service)
        anchor = "last_state_ok" if service else "last_state_up"
        data = self._call("/v1/objects/" + ("services" if service else "hosts"),
                          {"filter": target["filter"], "filter_vars": target["filter_vars"],
                           "attrs": ["state", "acknowledgement", anchor]}, query=True)
        results = data.get("results").items(optional=True)
        if not results:           # no such object in the core (404 "No objects found")
            return Problem(None, False)
        attrs = results[0].get("attrs")
        if not attrs.get("state").number(optional=True):
            return Problem(None, False)
        return Problem(f"{attrs.get(anchor).number(optional=True):.6f}",
                       bool(attrs.get("acknowledgement").number(optional=True)))

    def acknowledge(self, host: str, service: str, author: str, comment: str) -> None:
        body = dict(self._filter(host, service), author=author, comment=comment, notify=True,
                    sticky=True)
        data = self._call("/v1/actions/acknowledge-problem", body)
        codes = [r.get("code").number() for r in data.get("results").items(optional=True)]
        if not any(200 <= c < 300 or c == 409 for c in codes):
            error = data.get("status").value if data.has("status") else None
            said = clean(error)[:200] if isinstance(error, str) else "no result"
            raise CoreUnreachable(f"{self.back.url} did not take the acknowledgement "
                                  f"({self.wire.redactor(said)})")


# --- the run -----------------------------------------------------------------------------------

class SyncReport(NamedTuple):
    acknowledged: List[str]
    skipped: List[str]
    refused: List[str] = []      # tickets a person must look at: their fields are unusable


def same_problem(core: str, ticket_problem: str, current: str) -> bool:
    if core == "icinga2":
        try:
            return abs(float(ticket_problem) - float(current)) < 1e-5
        except ValueError:
            return False
    return ticket_problem == current


def synchronise(desk: RtRest, target: Any, core: str, origin: str,
                author: str) -> SyncReport:
    """Acknowledge in the core every ticket of ``origin`` taken or resolved by hand."""
    acknowledged: List[str] = []
    skipped: List[str] = []
    refused: List[str] = []
    for ticket, why in desk.to_acknowledge(origin):
        try:
            host, service, problem = ticket_problem(ticket, core, origin)
        except Refused as exc:
            refused.append(f"{exc}: not acknowledged")
            continue
        comment = comment_for(ticket, why)
        now = target.current(host, service)
        if now is not None:
            if now.problem is None or not same_problem(core, problem, now.problem):
                skipped.append(f"#{ticket.id}: its problem is over in the core")
                if why == "resolved":
                    desk.mark_acknowledged(ticket, "problem over before any acknowledgement")
                continue
            if now.acknowledged:
                desk.mark_acknowledged(ticket, comment + " (already acknowledged in the core)")
                skipped.append(f"#{ticket.id}: already acknowledged in the core")
                continue
        target.acknowledge(host, service, author, comment)
        desk.mark_acknowledged(ticket, comment)
        acknowledged.append(f"#{ticket.id} {comment}")
    return SyncReport(acknowledged, skipped, refused)
