"""One notification of a core, in the terms the service desk needs: which object, which problem
(that is, which ticket), and what the desk must do with it.

A core says *what happened* (PROBLEM, ACKNOWLEDGEMENT, RECOVERY, FLAPPINGSTART...); the desk
needs *what to do*: open the problem's ticket, write a note on it, or resolve it. That decision
is taken here, once, for every intake path (REST, mail), so that no desk has to know a core's
notification types.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, Dict, Optional

from .ticket_key import ENDING, problem_of

OK_STATES = ("OK", "UP")


class Action(str, Enum):
    """What the desk does with a notification."""

    OPEN = "open"          # a problem: its ticket, created unless it exists (and is not closed
                           # by its own recovery, which means the core reused the key)
    RECORD = "record"      # a note on the problem's ticket (ack, flapping, downtime, custom)
    RESOLVE = "resolve"    # the problem ended: its ticket resolved
    NONE = "none"          # about no problem (downtime of an OK service...): nothing to ticket


@dataclass(frozen=True)
class Notification:
    """Everything a ticket needs from one notification, and nothing secret."""

    notification_id: str     # the idempotency key: one notification is recorded once
    origin: str              # the core, as named in the desk configuration
    kind: str                # the core's notification type, upper case
    action: Action
    problem: str             # the problem's ID within the origin, '' when the core names none
    host: str
    service: str = ""        # '' for a host notification
    state: str = ""
    environment: str = ""
    attempt: str = ""
    time: str = ""
    output: str = ""
    details: str = ""
    runbook: str = ""
    author: str = ""
    comment: str = ""
    to: str = ""             # the mail gateway it was addressed to, kept for a later delivery

    @property
    def key(self) -> str:
        """The ticket key: the problem, prefixed by the core that owns the numbering."""
        return f"{self.origin}:{self.problem}" if self.problem else ""

    @property
    def sequence(self) -> Optional[float]:
        """The core's time of the notification, when its ID carries it."""
        return sequence_of(self.notification_id)

    @property
    def object_name(self) -> str:
        return f"{self.host}/{self.service}" if self.service else self.host

    def to_json(self) -> str:
        data = asdict(self)
        data["action"] = self.action.value
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Notification:
        try:
            data: Dict[str, Any] = json.loads(text)
        except RecursionError:
            raise ValueError("not a spooled notification: nested too deep") from None
        known = {field.name for field in fields(cls)}
        if not isinstance(data, dict) or not {"notification_id", "origin", "kind", "action",
                                                "problem", "host"} <= set(data):
            raise ValueError("not a spooled notification")
        values = {name: str(value) for name, value in data.items() if name in known}
        values["action"] = Action(values["action"])
        return cls(**values)  # type: ignore[arg-type]


def sequence_of(notification_id: str) -> Optional[float]:
    """The core's time in a notification ID built by ``build`` ('...@<time>'), if any."""
    match = re.search(r"@(\d{1,12}(?:\.\d{1,9})?)$", notification_id)
    return float(match.group(1)) if match else None


def action_for(kind: str, state: str, problem: str) -> Action:
    """The desk's action for a notification of ``kind`` with the object in ``state``.

    A FLAPPINGSTART in a problem state opens the ticket like a PROBLEM: the core caught the
    flapping on the check that began the problem (flap detection skips soft problem checks, so
    that problem is a hard one) and holds back its PROBLEM notification.

    Besides RECOVERY, a flapping or downtime notification that finds the object OK reports the
    end of its problem: Nagios 4 and Naemon suppress notifications while an object flaps or is
    in downtime, and send no RECOVERY afterwards for a problem that ended meanwhile (its
    recovering check began the flapping, or fell inside the downtime). Resolving on it is the
    only way that ticket closes; where the RECOVERY did come, its ticket is closed already and
    nothing more is recorded.
    """
    kind = kind.upper()
    ok = state.upper() in OK_STATES
    if kind == "PROBLEM" or (kind == "FLAPPINGSTART" and not ok and problem):
        return Action.OPEN
    if kind == "RECOVERY" or (ok and kind in ENDING):
        return Action.RESOLVE
    if ok or not problem:
        return Action.NONE
    return Action.RECORD


def build(*, core: str, origin: str, kind: str, host: str, service: Optional[str], state: str,
          problem_id: str, last_problem_id: str, core_notification_id: str = "",
          timet: str = "", unique: str = "", **text: str) -> Notification:
    """A ``Notification`` from the macros a core passed (``text``: environment, attempt,
    time, output, details, runbook, author, comment); ``unique`` stands for the core's own
    notification ID where it has none (a UUID fixed once for the notification)."""
    kind = kind.strip().upper()
    problem = problem_of(core, kind, state, problem_id, last_problem_id)
    action = action_for(kind, state, problem)
    # The core's time of the notification (Nagios: $TIMET$; Icinga 2: the check's own time,
    # finer than a second) orders notifications that ran side by side.
    moment = timet.strip() if re.fullmatch(r"\d{1,12}(\.\d{1,9})?", timet.strip()) else ""
    suffix = f"@{moment}" if moment else ""
    if core_notification_id.strip():
        # The core's own ID for this notification (Nagios 4, Naemon): the same for every
        # contact it goes to, so a desk fed twice by mistake still records it once. The time
        # keeps an ID reused after a restart without retention apart.
        notification_id = f"{origin}:n{core_notification_id.strip()}{suffix}"
    else:
        notification_id = f"{origin}:u{unique or uuid.uuid4().hex}{suffix}"
    return Notification(notification_id=notification_id, origin=origin, kind=kind,
                        action=action, problem=problem, host=host, service=service or "",
                        state=state.strip().upper(), **text)
