"""From a job's status text to a Nagios state: one table, overridable in the configuration.

Commvault's status texts are mapped to five categories: ok, warning, critical (the job ended),
running and waiting (still in progress). A job in progress is judged by how it progresses:
stalled (its percentage has not moved for too long), or waiting too long (Pending, Queued...),
with the reason the API gives. A status the table does not know is UNKNOWN, quoting it: it must
be classified, not guessed.
"""
from __future__ import annotations

from typing import Dict, Mapping, NamedTuple, Optional

from ..config.settings import JobSettings
from ..states import State
from .track import JobTrack

DEFAULT_OUTCOMES: Dict[str, str] = {
    "completed": "ok",
    "completed w/ one or more warnings": "warning",
    "completed w/ one or more errors": "warning",
    "failed": "critical",
    "failed to start": "critical",
    "killed": "critical",
    "interrupted": "critical",
    "abnormal terminated cleanup": "critical",
    "running": "running",
    "waiting": "waiting",
    "pending": "waiting",
    "queued": "waiting",
    "suspended": "waiting",
}


def _key(status: str) -> str:
    return " ".join(status.lower().split())


class OutcomeTable:
    """Status text → category, our defaults overlaid with the site's ``jobs.outcomes``."""

    def __init__(self, overrides: Optional[Mapping[str, str]] = None) -> None:
        self._table = dict(DEFAULT_OUTCOMES)
        for status, category in (overrides or {}).items():
            self._table[_key(status)] = category

    def category(self, status: Optional[str]) -> Optional[str]:
        return self._table.get(_key(status)) if status else None


class Verdict(NamedTuple):
    state: State
    text: str   # the long-output line: job, status, percent, duration, reason
    short: str  # for the first line: ``vm-b (Failed)``


def judge(track: JobTrack, table: OutcomeTable, settings: JobSettings, now: float) -> Verdict:
    """The state of one job, with a line saying why."""
    name = f"{track.label} (job {track.job_id})" if track.job_id is not None else track.label

    def verdict(state: State, long: str, short: str) -> Verdict:
        return Verdict(state, f"{name}: {long}", f"{track.label} ({short})")

    if track.error:
        return verdict(State.CRITICAL, track.error, track.error)
    if track.status is None:
        return verdict(State.OK, "launched, no status yet", "launched")
    category = table.category(track.status)
    detail = track.status + (f" at {track.percent:g} %" if track.percent is not None else "")
    detail += f" after {clock(track.duration(now))}"
    if track.reason:
        detail += f" ({track.reason})"
    if category is None:
        return verdict(State.UNKNOWN, f"unknown job status {track.status!r}",
                       f"unknown status {track.status!r}")
    if category in ("ok", "warning", "critical"):
        return verdict(State[category.upper()], detail,
                       track.status)
    if category == "waiting" and track.waiting_since is not None:
        waited = f"{track.status} for {clock(now - track.waiting_since)}"
        if now - track.waiting_since >= settings.pending_warning:
            reason = f" ({track.reason})" if track.reason else ""
            return verdict(State.WARNING, waited + reason, waited)
    if category == "running" and track.percent_changed_at is not None:
        still = now - track.percent_changed_at
        stalled = (f"stalled at {track.percent:g} % for {clock(still)}"
                   if track.percent is not None else f"no progress for {clock(still)}")
        if still >= settings.stall_critical:
            return verdict(State.CRITICAL, stalled, stalled)
        if still >= settings.stall_warning:
            return verdict(State.WARNING, stalled, stalled)
    return verdict(State.OK, detail, track.status)


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS, the way Commvault shows durations."""
    whole = int(max(0.0, seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
