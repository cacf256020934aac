"""The way back: a ticket someone has taken, or resolved by hand before the recovery, becomes an
acknowledgement of its problem in the core, with a comment carrying the ticket number in one
stable pattern (``RT#123``) that a console can turn into a link.

Each ticket is acknowledged once: the ticket is marked once the core took the acknowledgement,
and before writing, the core itself is asked whether the problem is still the ticket's own and
not acknowledged yet (Nagios' status file; Icinga 2's API), so that an acknowledgement made by
hand in the console, or a problem already over, is never acknowledged again.
"""
from __future__ import annotations

import errno
import os
import re
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import requests

from ..errors import IasoError
from .rt_rest import CF_HOST, CF_KEY, CF_SERVICE, RtRest, Ticket
from .settings import IcingaBack, NagiosBack

STATUS_FILE_LIMIT = 512 * 1024 * 1024


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
    return re.sub(r"[\x00-\x1f\x7f;]+", " ", text).strip()[:400]


class NagiosCommandFile:
    """Nagios 4 / Naemon: one ACKNOWLEDGE_* line into the external command FIFO."""

    def __init__(self, back: NagiosBack, clock: Callable[[], float] = time.time) -> None:
        self.back = back
        self.clock = clock

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
        if service:
            command = f"ACKNOWLEDGE_SVC_PROBLEM;{host};{service};2;1;0;{author};{comment}"
        else:
            command = f"ACKNOWLEDGE_HOST_PROBLEM;{host};2;1;0;{author};{comment}"
        line = f"[{int(self.clock())}] {clean_field(command)}\n".encode()
        if len(line) > 4096:
            raise CoreUnreachable("acknowledgement longer than one atomic pipe write")
        try:
            fd = os.open(self.back.command_file, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            reason = "no core reads it" if exc.errno == errno.ENXIO else exc.strerror
            raise CoreUnreachable(f"command file {self.back.command_file}: {reason}") from None
        try:
            os.write(fd, line)
        except OSError as exc:
            raise CoreUnreachable(f"command file {self.back.command_file}: "
                                  f"{exc.strerror}") from None
        finally:
            os.close(fd)


def clean_field(command: str) -> str:
    return re.sub(r"[\r\n]+", " ", command)


def _status_blocks(path: str) -> Iterator[Tuple[str, Dict[str, str]]]:
    """(kind, fields) of each block of a Nagios status file, streamed."""
    try:
        handle = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CoreUnreachable(f"status file {path}: {exc.strerror}") from None
    with handle:
        kind = ""
        fields: Dict[str, str] = {}
        read = 0
        for line in handle:
            read += len(line)
            if read > STATUS_FILE_LIMIT:
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


class IcingaApi:
    """Icinga 2: the object's state and POST /v1/actions/acknowledge-problem, certificate
    verified against the configured CA."""

    def __init__(self, back: IcingaBack, timeout: float,
                 session: Optional[requests.Session] = None) -> None:
        self.back = back
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.trust_env = False
        self._password: Optional[str] = None

    def _call(self, path: str, body: Dict[str, Any], method: str = "POST") -> Any:
        if self._password is None:
            self._password = self.back.password().reveal()
        headers = {"Accept": "application/json"}
        if method == "GET":
            headers["X-HTTP-Method-Override"] = "GET"
        try:
            answer = self.session.post(self.back.url + path, json=body, headers=headers,
                                       auth=(self.back.username, self._password),
                                       verify=self.back.ca_bundle, allow_redirects=False,
                                       timeout=(min(3.0, self.timeout), self.timeout))
        except requests.exceptions.SSLError:
            raise CoreUnreachable(f"{self.back.url}: certificate not trusted by "
                                  f"{self.back.ca_bundle}") from None
        except requests.exceptions.RequestException as exc:
            raise CoreUnreachable(f"{self.back.url} cannot be reached "
                                  f"({type(exc).__name__})") from None
        if answer.status_code in (401, 403):
            raise CoreUnreachable(f"{self.back.url} refused user {self.back.username} "
                                  f"(HTTP {answer.status_code})")
        if answer.status_code >= 300 and answer.status_code not in (404, 409, 500):
            raise CoreUnreachable(f"{self.back.url} answered HTTP {answer.status_code}")
        try:
            return answer.json()
        except ValueError:
            raise CoreUnreachable(f"{self.back.url} answered without JSON "
                                  f"(HTTP {answer.status_code})") from None

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
                           "attrs": ["state", "acknowledgement", anchor]}, method="GET")
        results = data.get("results") if isinstance(data, dict) else None
        if not results:
            return Problem(None, False)
        attrs = results[0].get("attrs", {})
        if not attrs.get("state"):
            return Problem(None, False)
        return Problem(f"{float(attrs.get(anchor) or 0):.6f}",
                       bool(attrs.get("acknowledgement")))

    def acknowledge(self, host: str, service: str, author: str, comment: str) -> None:
        body = dict(self._filter(host, service), author=author, comment=comment, notify=True,
                    sticky=True)
        data = self._call("/v1/actions/acknowledge-problem", body)
        results = data.get("results") if isinstance(data, dict) else None
        codes = [int(r.get("code", 0)) for r in results or [] if isinstance(r, dict)]
        if not codes or not any(200 <= c < 300 or c == 409 for c in codes):
            raise CoreUnreachable(f"{self.back.url} did not take the acknowledgement "
                                  f"({data.get('error') if isinstance(data, dict) else data})")


class SyncReport(NamedTuple):
    acknowledged: List[str]
    skipped: List[str]


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
    for ticket, why in desk.to_acknowledge(origin):
        host, service = ticket.field(CF_HOST), ticket.field(CF_SERVICE)
        problem = ticket.field(CF_KEY).split(":", 1)[-1]
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
    return SyncReport(acknowledged, skipped)
