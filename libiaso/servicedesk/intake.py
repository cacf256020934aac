"""A notification as the core passed it to ``iaso-servicedesk-notify``, before any configuration
is known: its macros, with the texts read from the environment when Nagios exports them, and
every string made valid UTF-8 (a check may print bytes of another encoding; they arrive as
undecodable bytes, which no JSON file or HTTP body can hold).

It becomes a ``Notification`` once the configuration gives it its origin and its desk address.
Until then it can be kept as it is (``held.py``): a configuration that cannot be read loses
nothing.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Mapping, Optional

from ..errors import ConfigError
from .notification import Notification, build
from .settings import DeskSettings, origin_for

# Nagios 4 and Naemon strip illegal_macro_output_chars ($, `, quotes...) from these macros on a
# command line; with enable_environment_macros=1 the same values arrive untouched here.
NAGIOS_TEXT = {
    "output": ("NAGIOS_SERVICEOUTPUT", "NAGIOS_HOSTOUTPUT"),
    "details": ("NAGIOS_LONGSERVICEOUTPUT", "NAGIOS_LONGHOSTOUTPUT"),
    "author": ("NAGIOS_NOTIFICATIONAUTHOR", "NAGIOS_NOTIFICATIONAUTHOR"),
    "comment": ("NAGIOS_NOTIFICATIONCOMMENT", "NAGIOS_NOTIFICATIONCOMMENT"),
}
TEXT_FIELDS = ("environment", "attempt", "time", "output", "details", "runbook", "author",
               "comment")


def valid_text(value: str) -> str:
    """``value`` as valid UTF-8 text: bytes that were not UTF-8 become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def nagios_text(values: Dict[str, str], service: bool,
                environment: Mapping[str, str]) -> Dict[str, str]:
    """The text macros, from the environment when the core exported it."""
    if "NAGIOS_NOTIFICATIONTYPE" not in environment:
        if values.get("details"):
            values["details"] = values["details"].replace("\\n", "\n")
        return values
    for name, (for_service, for_host) in NAGIOS_TEXT.items():
        variable = for_service if service else for_host
        if variable in environment:
            values[name] = environment[variable]
    values["details"] = values.get("details", "").replace("\\n", "\n")
    return values


def configuration_key(path: Optional[str]) -> str:
    """The configuration file as held notifications name it: absolute, '' for none."""
    return valid_text(os.path.abspath(path)) if path else ""


@dataclass(frozen=True)
class Intake:
    """What one run of the notification command was given."""

    core: str
    config: str                  # the configuration file it was meant for ('' for none)
    origin: str                  # --origin; '' when the configuration names it
    kind: str
    host: str
    service: str
    state: str
    problem_id: str
    last_problem_id: str
    notification_id: str         # the core's own ID of the notification ('' for Icinga 2)
    timet: str
    to: str                      # --to
    unique: str                  # stands for the core's ID where it has none, fixed once
    text: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_run(cls, *, core: str, config: Optional[str], origin: Optional[str], kind: str,
               host: str,
               service: Optional[str], state: str, problem_id: str, last_problem_id: str,
               notification_id: str, timet: str, to: Optional[str], text: Dict[str, str],
               environment: Mapping[str, str]) -> Intake:
        text = {name: text.get(name, "") for name in TEXT_FIELDS}
        if core == "nagios":
            text = nagios_text(text, bool(service), environment)
        elif not text["details"] and "\n" in text["output"]:  # Icinga 2: output holds both
            text["output"], _, text["details"] = text["output"].partition("\n")
        return cls(core=core, config=configuration_key(config),
                   origin=valid_text(origin or ""), kind=valid_text(kind),
                   host=valid_text(host), service=valid_text(service or ""),
                   state=valid_text(state), problem_id=valid_text(problem_id),
                   last_problem_id=valid_text(last_problem_id),
                   notification_id=valid_text(notification_id), timet=valid_text(timet),
                   to=valid_text(to or ""), unique=uuid.uuid4().hex,
                   text={name: valid_text(value) for name, value in text.items()})

    def notification(self, settings: DeskSettings) -> Notification:
        """The notification under ``settings``; ConfigError if its origin is not a name."""
        name = origin_for(settings, self.core, self.origin or None)
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ConfigError(f"--origin {name!r}: letters, digits, '-', '_' and '.' only")
        text = dict(self.text)
        if settings.mail is not None:
            text["to"] = self.to or settings.mail.to
        return build(core=self.core, origin=name, kind=self.kind, host=self.host,
                     service=self.service, state=self.state, problem_id=self.problem_id,
                     last_problem_id=self.last_problem_id,
                     core_notification_id=self.notification_id, timet=self.timet,
                     unique=self.unique, **text)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Intake:
        try:
            data: Any = json.loads(text)
        except RecursionError:
            raise ValueError("not a held notification: nested too deep") from None
        names = {item.name for item in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError("not a held notification")
        if not isinstance(data["text"], dict) or not all(
                isinstance(v, str) for v in data["text"].values()) or not all(
                isinstance(data[n], str) for n in names - {"text"}):
            raise ValueError("not a held notification: a field is not a text")
        if data["core"] not in ("nagios", "icinga2"):
            raise ValueError(f"not a held notification: core {data['core']!r}")
        data["text"] = {n: data["text"].get(n, "") for n in TEXT_FIELDS}
        return cls(**data)
