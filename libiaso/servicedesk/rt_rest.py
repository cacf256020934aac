"""Request Tracker's REST 2 API: the ticket of a problem, found, opened, noted and resolved,
each notification recorded once; and the tickets people have taken, for the way back.

The ticket carries its problem in custom fields (etc/request-tracker/iaso-initialdata): the
key, the origin, the host and the service, every notification ID already recorded, and markers
for "closed by its recovery" and "acknowledged in the core". Before writing, the ticket is read:
a notification whose ID is already there is not recorded again (a retry after a lost answer,
a desk fed twice). A note and its ID go in one request.

The token is read from its file for each run and sent only to the configured URL (wire.py: one
origin, no redirect, bounded answers within the run's end, masked messages). Every answer is
read for its shape: a ticket, a custom field or an id of an unexpected shape is an unreachable
desk naming the field, so the notification waits in the spool instead of crashing the run.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import requests

from ..errors import ConfigError, DeskRejected, DeskUnreachable
from .mail import body_of, subject_of
from .notification import Action, Notification, sequence_of
from .settings import RestDesk
from .wire import Json, Wire

CF_KEY = "IASO problem key"
CF_ORIGIN = "IASO origin"
CF_HOST = "IASO host"
CF_SERVICE = "IASO service"
CF_NOTIFICATIONS = "IASO notifications"
CF_RECOVERED = "IASO recovered"
CF_ACKNOWLEDGED = "IASO acknowledged"
PAGE = 100


def quoted(value: str) -> str:
    """A TicketSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Ticket:
    """One ticket as a search returns it, every field checked for its shape."""

    def __init__(self, item: Any) -> None:
        entry = item if isinstance(item, Json) else Json(item, "ticket", DeskUnreachable)
        self.id = entry.get("id").whole()
        self.status = entry.get("Status").text(optional=True)
        self.owner = _user(entry.get("Owner"))
        self.last_updated_by = _user(entry.get("LastUpdatedBy"))
        self.fields: Dict[str, List[str]] = {}
        for field in entry.get("CustomFields").items(optional=True):
            name = field.get("name").text()
            self.fields[name] = [v.text() for v in field.get("values").items(optional=True)]

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
        self.warnings: List[str] = []       # about the token file, for the run's journal
        self.wire = Wire(desk.url, failure=DeskUnreachable, timeout=timeout, until=until,
                         ca_bundle=desk.ca_bundle, session=session)
        self._token: Optional[str] = None

    @property
    def until(self) -> Optional[float]:
        return self.wire.until

    # --- the exchange ------------------------------------------------------------------------

    def _headers(self) -> Dict[str, str]:
        if self._token is None:
            try:
                self._token = self.wire.secret(self.desk.token(self.warnings).reveal())
            except ConfigError as exc:      # fixed by a person; meanwhile everything waits
                raise DeskUnreachable("no token to send: "
                                      + exc.message.replace("password file", "token file")
                                      ) from None
        return {"Authorization": f"token {self._token}", "Accept": "application/json"}

    def request(self, method: str, path: str, *, params: Optional[Dict[str, str]] = None,
                body: Optional[Any] = None) -> Json:
        """The JSON answer to one request; the desk's refusals classed for the spool."""
        reply = self.wire.exchange(method, "REST/2.0/" + path, params=params, body=body,
                                   headers=self._headers())
        status, url = reply.status, self.desk.url
        if status in (401, 403):
            raise DeskUnreachable(f"{url} refused our token (HTTP {status}): check "
                                  f"token_file and the rights of its user")
        if status in (408, 429) or status >= 500:
            raise DeskUnreachable(f"{url} answered HTTP {status}")
        if status >= 400:
            raise DeskRejected(f"{url} refused {method} {path.split('?')[0]} "
                               f"(HTTP {status}): {self.wire.message(reply)}")
        if status < 200:
            raise DeskUnreachable(f"{url} answered HTTP {status}")
        return self.wire.json(reply, f"{method} {path.split('?')[0]}")

    def search(self, query: str, *, newest_first: bool = True,
               limit: int = PAGE) -> List[Ticket]:
        found: List[Ticket] = []
        page = 1
        while len(found) < limit:
            data = self.request("GET", "tickets", params={
                "query": query, "fields": self.FIELDS, "orderby": "id",
                "order": "DESC" if newest_first else "ASC", "per_page": str(PAGE),
                "page": str(page)})
            items = data.get("items").items()
            found += [Ticket(item) for item in items]
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
        return self.request("POST", "ticket", body=body).get("id").whole()

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


def _user(value: Json) -> str:
    """A user as RT writes it in a ticket: an object with an id, or the bare name."""
    if value.null:
        return ""
    if isinstance(value.value, dict):
        return value.get("id").text(optional=True)
    return value.text()
