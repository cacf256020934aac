"""Request Tracker's REST 2 API: the ticket of a problem, found, opened, noted and resolved,
each notification recorded once; and the tickets people have taken, for the way back.

The ticket carries its problem in custom fields (etc/request-tracker/iaso-initialdata): the
key, the origin, the host and the service, every notification ID already recorded, and markers
for "closed by its recovery" and "acknowledged in the core". Before writing, the ticket is read:
a notification whose ID is already there is not recorded again (a retry after a lost answer,
a desk fed twice). A note and its ID go in one request.

The token is read from its file for each run, sent only to the configured URL: redirects are
never followed (an answer pointing elsewhere is refused), certificates are verified, answers are
bounded in size, and no message quotes the token.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import requests

from ..errors import ConfigError, DeskRejected, DeskUnreachable
from .mail import body_of, subject_of
from .notification import Action, Notification, sequence_of
from .settings import RestDesk

CF_KEY = "IASO problem key"
CF_ORIGIN = "IASO origin"
CF_HOST = "IASO host"
CF_SERVICE = "IASO service"
CF_NOTIFICATIONS = "IASO notifications"
CF_RECOVERED = "IASO recovered"
CF_ACKNOWLEDGED = "IASO acknowledged"
ANSWER_LIMIT = 4 * 1024 * 1024
PAGE = 100


def quoted(value: str) -> str:
    """A TicketSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Ticket:
    """One ticket as a search returns it."""

    def __init__(self, item: Dict[str, Any]) -> None:
        self.id = int(item["id"])
        self.status = str(item.get("Status", ""))
        owner = item.get("Owner") or {}
        self.owner = str(owner.get("id", "")) if isinstance(owner, dict) else str(owner)
        updated = item.get("LastUpdatedBy") or {}
        self.last_updated_by = str(updated.get("id", "")) if isinstance(updated, dict) else ""
        self.fields: Dict[str, List[str]] = {}
        for field in item.get("CustomFields") or []:
            if isinstance(field, dict) and "name" in field:
                self.fields[str(field["name"])] = [str(v) for v in field.get("values") or []]

    def field(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0]

    @property
    def notifications(self) -> List[str]:
        return self.fields.get(CF_NOTIFICATIONS, [])

    @property
    def closed(self) -> bool:
        return self.status in ("resolved", "rejected", "deleted")


class RtRest:
    """A session with one RT, for one run."""

    FIELDS = "Status,Owner,LastUpdatedBy,CustomFields"

    def __init__(self, desk: RestDesk, timeout: float,
                 session: Optional[requests.Session] = None,
                 until: Optional[float] = None) -> None:
        self.desk = desk
        self.timeout = timeout
        self.until = until                  # the run's own end (monotonic): no wait outlives it
        self.warnings: List[str] = []       # about the token file, for the run's journal
        self.base = desk.url + "/REST/2.0/"
        self.origin = _origin(desk.url)
        self.session = session or requests.Session()
        self.session.trust_env = False      # no proxy, netrc or CA bundle from the environment
        self._token: Optional[str] = None

    # --- the exchange ------------------------------------------------------------------------

    def _headers(self) -> Dict[str, str]:
        if self._token is None:
            try:
                self._token = self.desk.token(self.warnings).reveal()
            except ConfigError as exc:      # fixed by a person; meanwhile everything waits
                raise DeskUnreachable("no token to send: "
                                      + exc.message.replace("password file", "token file")
                                      ) from None
        return {"Authorization": f"token {self._token}", "Accept": "application/json"}

    def request(self, method: str, path: str, *, params: Optional[Dict[str, str]] = None,
                body: Optional[Any] = None) -> Any:
        url = self.base + path
        if _origin(url) != self.origin:
            raise DeskRejected(f"refused to send the token outside {self.desk.url}")
        timeout = self.timeout
        if self.until is not None:
            timeout = min(timeout, self.until - time.monotonic())
            if timeout <= 0.05:
                raise DeskUnreachable("this run's time is up")
        try:
            answer = self.session.request(
                method, url, params=params, json=body, headers=self._headers(),
                timeout=(min(3.0, timeout), timeout), allow_redirects=False,
                verify=self.desk.ca_bundle or True, stream=True)
            try:
                data = _bounded(answer)
            finally:
                answer.close()
        except requests.exceptions.SSLError:
            raise DeskUnreachable(f"{self.desk.url}: TLS certificate not trusted") from None
        except requests.exceptions.Timeout:
            raise DeskUnreachable(f"{self.desk.url} did not answer within "
                                  f"{timeout:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise DeskUnreachable(f"{self.desk.url} cannot be reached "
                                  f"({type(exc).__name__})") from None
        status = answer.status_code
        if 300 <= status < 400:
            raise DeskUnreachable(f"{self.desk.url} redirected (HTTP {status}); not followed: "
                                  f"check the configured URL")
        if status in (401, 403):
            raise DeskUnreachable(f"{self.desk.url} refused our token (HTTP {status}): check "
                                  f"token_file and the rights of its user")
        if status in (408, 429) or status >= 500:
            raise DeskUnreachable(f"{self.desk.url} answered HTTP {status}")
        if status >= 400:
            raise DeskRejected(f"{self.desk.url} refused {method} {path.split('?')[0]} "
                               f"(HTTP {status}): {_message(data)}")
        try:
            return json.loads(data.decode("utf-8")) if data.strip() else None
        except (UnicodeDecodeError, ValueError):
            raise DeskUnreachable(f"{self.desk.url} answered something that is not JSON "
                                  f"(HTTP {status})") from None

    def search(self, query: str, *, newest_first: bool = True,
               limit: int = PAGE) -> List[Ticket]:
        found: List[Ticket] = []
        page = 1
        while len(found) < limit:
            data = self.request("GET", "tickets", params={
                "query": query, "fields": self.FIELDS, "orderby": "id",
                "order": "DESC" if newest_first else "ASC", "per_page": str(PAGE),
                "page": str(page)})
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise DeskUnreachable(f"{self.desk.url}: a ticket search answered without items")
            found += [Ticket(item) for item in items if isinstance(item, dict) and "id" in item]
            if len(items) < PAGE:
                break
            page += 1
        return found[:limit]

    # --- delivering a notification -------------------------------------------------------------

    # Searches name one custom field (each more is one more join for RT's database); the
    # object is then checked on the tickets found.

    @staticmethod
    def _same_object(ticket: Ticket, n: Notification) -> bool:
        return (ticket.field(CF_ORIGIN), ticket.field(CF_HOST), ticket.field(CF_SERVICE)) == \
            (n.origin, n.host, n.service)

    def ticket_of(self, n: Notification) -> Optional[Ticket]:
        """The newest ticket of the notification's problem on its object."""
        if not n.key:
            return None
        found = self.search(f"Queue = {quoted(self.desk.queue)} AND "
                            f"'CF.{{{CF_KEY}}}' = {quoted(n.key)}")
        return next((t for t in found if self._same_object(t, n)), None)

    def open_tickets_of_object(self, n: Notification) -> List[Ticket]:
        found = self.search(f"Queue = {quoted(self.desk.queue)} AND Status = '__Active__' AND "
                            f"'CF.{{{CF_HOST}}}' = {quoted(n.host)}")
        return [t for t in found if self._same_object(t, n) and not t.closed]

    def deliver(self, n: Notification) -> str:
        """Record ``n`` on its ticket; returns what was done, for the run's stderr line."""
        if n.action is Action.NONE:
            return "nothing to record"
        ticket = self.ticket_of(n)
        if ticket is not None and n.notification_id in ticket.notifications:
            return f"already recorded on #{ticket.id}"
        if n.action is Action.OPEN:
            if ticket is None or reused(ticket.field(CF_RECOVERED), n):
                return f"opened #{self._create(n)}"
            self._note(ticket, n)
            return f"noted on #{ticket.id}"
        if n.action is Action.RECORD:
            if ticket is None:
                return "no ticket for this problem: not recorded"
            self._note(ticket, n)
            return f"noted on #{ticket.id}"
        targets = [ticket] if ticket is not None else self.open_tickets_of_object(n)
        done = []
        for target in targets:
            if target.field(CF_RECOVERED):
                continue
            self._note(target, n, resolve=True)
            done.append(f"#{target.id}")
        if not targets and n.key and n.kind == "RECOVERY":
            # A core sends a RECOVERY only after notifying its problem: that PROBLEM is late
            # (notification commands run side by side) and will be noted on this ticket.
            return f"opened #{self._create(n, resolved=True)} resolved, before its problem"
        return "resolved " + ", ".join(done) if done else "no open ticket to resolve"

    def _create(self, n: Notification, resolved: bool = False) -> int:
        fields: Dict[str, Any] = {CF_KEY: n.key, CF_ORIGIN: n.origin, CF_HOST: n.host,
                                  CF_NOTIFICATIONS: [n.notification_id]}
        if n.service:
            fields[CF_SERVICE] = n.service
        body: Dict[str, Any] = {"Queue": self.desk.queue, "Subject": subject_of(n),
                                "Content": body_of(n), "ContentType": "text/plain",
                                "CustomFields": fields}
        if resolved:
            fields[CF_RECOVERED] = n.notification_id
            body["Status"] = "resolved"
        data = self.request("POST", "ticket", body=body)
        try:
            return int(data["id"])
        except (TypeError, KeyError, ValueError):
            raise DeskUnreachable(f"{self.desk.url}: ticket creation answered no id") from None

    def _note(self, ticket: Ticket, n: Notification, resolve: bool = False) -> None:
        fields: Dict[str, Any] = {CF_NOTIFICATIONS: [*ticket.notifications, n.notification_id]}
        body: Dict[str, Any] = {"Subject": subject_of(n), "Content": body_of(n),
                                "ContentType": "text/plain", "CustomFields": fields}
        if resolve:
            fields[CF_RECOVERED] = n.notification_id
            if ticket.status != "resolved":
                body["Status"] = "resolved"
        self.request("POST", f"ticket/{ticket.id}/comment", body=body)

    # --- the way back ------------------------------------------------------------------------

    def to_acknowledge(self, origin: str) -> List[Tuple[Ticket, str]]:
        """Tickets of ``origin`` not yet acknowledged in the core: taken by someone (open), or
        resolved by hand before the core reported a recovery."""
        mine = (f"Queue = {quoted(self.desk.queue)} AND 'CF.{{{CF_ORIGIN}}}' = {quoted(origin)}"
                f" AND 'CF.{{{CF_ACKNOWLEDGED}}}' IS NULL")
        taken = self.search(f"{mine} AND Owner != 'Nobody' AND Status = '__Active__'",
                            newest_first=False, limit=10_000)
        by_hand = self.search(f"{mine} AND Status = 'resolved' AND "
                              f"'CF.{{{CF_RECOVERED}}}' IS NULL", newest_first=False,
                              limit=10_000)
        return [(t, "taken") for t in taken] + [(t, "resolved") for t in by_hand]

    def mark_acknowledged(self, ticket: Ticket, text: str) -> None:
        self.request("PUT", f"ticket/{ticket.id}", body={"CustomFields": {CF_ACKNOWLEDGED: text}})


def reused(recovered: str, n: Notification) -> bool:
    """Whether an OPEN meeting a ticket closed by a recovery is a new problem under a reused
    key (the core restarted without its retention file) rather than that ticket's own PROBLEM
    arriving after its RECOVERY: only a PROBLEM raised after the recovery is a new one."""
    if not recovered:
        return False
    closed_at, raised_at = sequence_of(recovered), n.sequence
    return closed_at is None or raised_at is None or raised_at > closed_at


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _bounded(answer: requests.Response) -> bytes:
    chunks = []
    size = 0
    for chunk in answer.iter_content(65536):
        size += len(chunk)
        if size > ANSWER_LIMIT:
            raise DeskUnreachable(f"answer larger than {ANSWER_LIMIT} bytes; not read further")
        chunks.append(chunk)
    return b"".join(chunks)


def _message(data: bytes) -> str:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return data[:120].decode("utf-8", "replace")
    if isinstance(value, dict) and "message" in value:
        return str(value["message"])[:200]
    return str(value)[:200]
