"""The API's own record of a host's recent jobs: what makes job checks right on several pollers.

Runs of one backup or restore service may land on different machines (an Icinga 2 zone with two
satellite endpoints, mod_gearman workers), each with its own disk. A state file alone would let
each launch its own job. So before launching, a check asks the API for the host's jobs of that
kind started within the relaunch interval (the profile's ``job_list`` role) and follows the one
it finds instead of launching another; the state file keeps only what one poller has seen (the
clocks of stalls and waits). Jobs are the check's own when the listing says who launched them
(the configured user) and what they are (a backup's level; a restore's file, path and
destination): each of those fields the listing lacks matches any job of the kind. An API that
says "no jobs for this host" with an error status or a marker field names it in the listing's
``not_visible`` rule.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional

from ..api.answers import Answer, job_id_problem, read
from ..api.client import IasoClient
from ..errors import ApiStatusError, IasoError, WrongType
from .outcomes import clock

log = logging.getLogger("iaso.jobs")
KINDS = {"text": "str", "any": "id"}
API_CLOCK_SKEW = 900.0     # seconds a listed start may be ahead of this host's clock
TRAITS = ("level", "file_name", "source_path", "destination")


class LedgerEntry(NamedTuple):
    """One job of the listing, as far as the profile reads it."""

    job_id: Any
    started_at: float
    status: Optional[str]
    user: Optional[str]
    traits: Mapping[str, str]                   # those of TRAITS the listing gave


class Ledger:
    """The job listing of one environment, read through the client."""

    def __init__(self, client: IasoClient, username: Optional[str]) -> None:
        self.client = client
        self.username = username

    def recent(self, kind: str, hostname: str, traits: Mapping[str, Optional[str]],
               since: float, now: float, params: Mapping[str, Any],
               active: Callable[[Optional[str]], bool] = lambda status: False
               ) -> List[LedgerEntry]:
        """The host's jobs of ``kind`` started at or after ``since``, or earlier (back to one
        period more) and still ``active``, newest first, that are this check's (same user and
        ``traits`` where the listing says). A job still running from the period before is
        followed, never doubled, as one poller would."""
        empty = self.client.environment.profile.endpoint("job_list").not_visible
        asked_since = since - max(0.0, now - since)
        try:
            answer = self.client.call("job_list", {
                **params, "hostname": hostname, "kind": kind, "job_type": kind.capitalize(),
                "since": int(asked_since), "window": max(1, int(now - asked_since))})
        except ApiStatusError as exc:
            if empty is not None and empty.field is None and exc.status in empty.statuses:
                return []        # the profile's way of saying "this host has no jobs yet"
            raise
        if empty is not None and answer.matches(empty):
            return []
        items = answer.field("items", "list")
        entries = [self._entry(answer, item, index) for index, item in enumerate(items)]
        ours = [e for e in entries
                if (self.username is None or not e.user
                    or e.user.lower() == self.username.lower())
                and all(same_trait(name, e.traits[name], str(value))
                        for name, value in traits.items()
                        if value is not None and e.traits.get(name))]
        ahead = [e for e in ours if e.started_at > now + API_CLOCK_SKEW]
        if ahead:     # would count as "of this period" for ever
            raise WrongType(f"job {ahead[0].job_id} is listed as started "
                            f"{_span(ahead[0].started_at - now)} after this host's clock (a "
                            "clock ahead, local time written as UTC, or milliseconds read as "
                            "seconds?)",
                            field=answer.endpoint.field_path("started_at"), url=answer.url)
        mine = [e for e in ours
                if e.started_at >= since or (asked_since <= e.started_at and active(e.status))]
        wrong_host = [e for e, item in zip(entries, items)
                      if not _same_host(answer, item, hostname)]
        if wrong_host:
            raise WrongType(f"the job listing for {hostname} holds job {wrong_host[0].job_id} "
                            "of another host", field=answer.endpoint.field_path("hostname"),
                            url=answer.url)
        return sorted(mine, key=lambda e: e.started_at, reverse=True)

    def _entry(self, answer: Answer, item: Any, index: int) -> LedgerEntry:
        endpoint = answer.endpoint
        values: Dict[str, Any] = {}
        for name, required in (("job_id", True), ("started_at", True), ("status", False),
                               ("user", False), *((t, False) for t in TRAITS)):
            if not required and not endpoint.configured(name):
                values[name] = None
                continue
            spec = endpoint.spec(name)
            kind = "time" if name == "started_at" else KINDS.get(spec.type, spec.type)
            try:
                values[name] = read(item, spec, kind, required=required, url=answer.url)
            except IasoError as exc:
                raise WrongType(f"job {index + 1} of the listing: {exc.message}",
                                field=spec.path, url=answer.url) from None
        problem = job_id_problem(values["job_id"])
        if problem:
            raise WrongType(f"job {index + 1} of the listing: its ID {problem}",
                            field=endpoint.field_path("job_id"), url=answer.url)
        return LedgerEntry(values["job_id"], float(values["started_at"]), values["status"],
                           values["user"], {t: str(values[t]).strip() for t in TRAITS
                                            if values[t] is not None})


def _span(seconds: float) -> str:
    return clock(seconds) if seconds < 2 * 86400 else f"{seconds / 86400:,.0f} days"


def same_trait(name: str, listed: str, wanted: str) -> bool:
    """Levels are words, however written (``Synthetic Full``, ``SYNTHETIC_FULL``); paths match
    whatever their trailing separator, a Windows path (a drive letter or a backslash) in any
    case, as Windows reads it."""
    if name == "level":
        return _level_word(listed) == _level_word(wanted)
    return _path(listed) == _path(wanted)


def _level_word(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text).strip().lower()


def _path(text: str) -> str:
    text = text.strip()
    if len(text) > 1:
        text = text.rstrip("/\\") or text[0]
    windows = "\\" in text or re.match(r"[A-Za-z]:", text) is not None
    return text.lower() if windows else text


def _same_host(answer: Answer, item: Any, hostname: str) -> bool:
    endpoint = answer.endpoint
    if not endpoint.configured("hostname"):
        return True
    try:
        found = read(item, endpoint.spec("hostname"), "str", required=False)
    except IasoError:
        return False
    return found is None or found.strip().lower() == hostname.lower()
