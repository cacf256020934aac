"""From a job's status text to a Nagios state: one table, overridable in the configuration.

Commvault's status texts are mapped to five categories: ok, warning, critical (the job ended:
the only statuses that end a job), running and waiting (still in progress). A job in progress is
judged by how it progresses: stalled (running without its percentage moving for too long), or
waiting too long (Pending, Queued...), with the reason the API gives. A status the table does
not know is UNKNOWN, quoting it, and the job is polled again: it must be classified, not
guessed. A status request that gets no answer lets the last answer age (WARNING, then CRITICAL,
past the stall limits); one answered with an error or nonsense is CRITICAL for that run.
"""
from __future__ import annotations

import time
from typing import Dict, Mapping, NamedTuple, Optional

from ..config.settings import JobSettings
from ..states import State
from .track import (
    FINAL_CATEGORIES,
    LAUNCH_CUT,
    NO_ANSWER,
    NOT_LAUNCHED,
    UNREADABLE,
    JobTrack,
)

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
    """Status text → category: our defaults, then the API profile's words for its job statuses
    (``states`` of the job_status endpoint), then the site's ``jobs.outcomes``."""

    def __init__(self, overrides: Optional[Mapping[str, str]] = None,
                 profile_words: Optional[Mapping[str, str]] = None) -> None:
        self._table = dict(DEFAULT_OUTCOMES)
        for layer in (profile_words or {}, overrides or {}):
            for status, category in layer.items():
                self._table[_key(status)] = category

    def category(self, status: Optional[str]) -> Optional[str]:
        return self._table.get(_key(status)) if status else None

    def is_final(self, status: Optional[str]) -> bool:
        return self.category(status) in FINAL_CATEGORIES


class Verdict(NamedTuple):
    state: State
    text: str   # the long-output line: job, status, percent, duration, reason
    short: str  # for the first line: ``vm-b (Failed)``


class Finding(NamedTuple):
    """A verdict before it names its job."""

    state: State
    long: str
    short: str


def judge(track: JobTrack, table: OutcomeTable, settings: JobSettings, now: float) -> Verdict:
    """The state of one job, with a line saying why."""
    return named(track, assess(track, table, settings, now))


def named(track: JobTrack, finding: Finding) -> Verdict:
    name = f"{track.label} (job {track.job_id})" if track.job_id is not None else track.label
    return Verdict(finding.state, f"{name}: {finding.long}", f"{track.label} ({finding.short})")


def assess(track: JobTrack, table: OutcomeTable, settings: JobSettings, now: float) -> Finding:
    """The state of one job and why, from what its track records."""
    if track.job_id is None:
        message = track.error or "not started"
        if track.launch_problem == NOT_LAUNCHED:
            return Finding(State.UNKNOWN, message, "not launched this run")
        if track.launch_problem == LAUNCH_CUT:
            return Finding(State.UNKNOWN, message, "launch cut at the deadline")
        return Finding(State.CRITICAL, message, message)
    category = table.category(track.status)
    if track.ended_at is not None and category in FINAL_CATEGORIES:
        return Finding(State[category.upper()], _detail(track, now), track.status or "")
    if track.problem_kind == UNREADABLE:
        return Finding(State.CRITICAL, f"status unreadable: {track.error}",
                       f"status unreadable: {track.error}")
    if track.problem_kind == NO_ANSWER:
        return _silence(track, table, settings, now)
    return _progress(track, table, settings, now)


def _progress(track: JobTrack, table: OutcomeTable, settings: JobSettings,
              now: float) -> Finding:
    """A job in progress as its last answer describes it, seen at ``now``."""
    if track.status is None:
        return Finding(State.OK, "launched, no status yet", "launched")
    category = table.category(track.status)
    if category is None:
        return Finding(State.UNKNOWN, f"unknown job status {track.status!r}: classify it in "
                                      "jobs.outcomes", f"unknown status {track.status!r}")
    # A job back to waiting at a percentage it already ran at is flipping, not waiting: the
    # stall clock it started running with keeps counting.
    stalling = category == "running" or (category == "waiting" and track.resumed)
    if stalling and track.percent_changed_at is not None:
        still = now - track.percent_changed_at
        stalled = (f"stalled at {track.percent:g} % for {clock(still)}"
                   if track.percent is not None else f"no progress for {clock(still)}")
        if category == "waiting":
            stalled += f" ({track.status} again)"
        if still >= settings.stall_critical:
            return Finding(State.CRITICAL, stalled, stalled)
        if still >= settings.stall_warning:
            return Finding(State.WARNING, stalled, stalled)
    if category == "waiting" and track.waiting_since is not None:
        waited = f"{track.status} for {clock(now - track.waiting_since)}"
        if now - track.waiting_since >= settings.pending_warning:
            reason = f" ({track.reason})" if track.reason else ""
            return Finding(State.WARNING, waited + reason, waited)
    return Finding(State.OK, _detail(track, now), track.status or "")


def _silence(track: JobTrack, table: OutcomeTable, settings: JobSettings,
             now: float) -> Finding:
    """No answer this run: the last answer ages, and is judged as it stood when it came."""
    silence = now - track.silent_since
    state = (State.CRITICAL if silence >= settings.stall_critical else
             State.WARNING if silence >= settings.stall_warning else State.OK)
    known = _progress(track, table, settings, track.silent_since)
    last = (f"last: {known.long}" if track.status is not None else
            "nothing since the launch" if track.listed_at is None else
            "nothing since it was found in the job listing")
    long = (f"no status answer since {stamp(track.silent_since)} ({clock(silence)} ago; "
            f"{last}): {track.error}")
    short = f"no status answer for {clock(silence)}"
    if known.state > state:
        return Finding(known.state, long, f"{known.short}; {short}")
    return Finding(state, long, short)


def carried_over(previous: Finding, track: JobTrack, current: Finding, kind: str) -> Verdict:
    """A new job's verdict while the last outcome of the same target still stands.

    A failed backup stays failed (and its ticket open) until a newer backup has ended: the
    launch of a new job does not clear it. The worse of the two states, both said.
    """
    word = {State.WARNING: "needs attention", State.CRITICAL: "failed"}.get(previous.state,
                                                                           "ended")
    if current.state is State.OK:
        new = f"new {kind} job {track.job_id} {_short_progress(track)}"
        new_short = new
    else:
        new = f"new {kind} job {track.job_id}: {current.long}"
        new_short = f"new {kind} job {track.job_id}: {current.short}"
    return Verdict(max(previous.state, current.state),
                   f"{track.label} (job {track.job_id}): last {kind} {word}: {previous.long}; "
                   f"{new}",
                   f"{track.label} (last {kind} {word}: {previous.short}; {new_short})")


def _short_progress(track: JobTrack) -> str:
    if track.status is None:
        return "launched"
    if track.category == "running" and track.percent is not None:
        return f"at {track.percent:g} %"
    return track.status


def _detail(track: JobTrack, now: float) -> str:
    detail = (track.status or "launched") + (
        f" at {track.percent:g} %" if track.percent is not None else "")
    detail += f" after {clock(track.duration(now))}"
    if track.reason:
        detail += f" ({track.reason})"
    return detail


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS, the way Commvault shows durations."""
    whole = int(max(0.0, seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def stamp(epoch: float) -> str:
    """A moment in the monitoring host's local time, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
