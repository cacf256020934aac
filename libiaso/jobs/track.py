"""What is known of one launched job across polls and probe runs."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

from ..api.answers import JobStatus, job_id_problem

FINAL_CATEGORIES = ("ok", "warning", "critical")

# Why this run's status request for a job gave nothing to go on.
NO_ANSWER = "no answer"      # no complete answer, or not asked: the last answer ages
UNREADABLE = "unreadable"    # an answer came, and it is an error or cannot be believed
PROBLEM_KINDS = (NO_ANSWER, UNREADABLE)

# Why a target has no job for lack of the run's time (``launch_problem``; a field of its own, so
# that a state file read by an earlier version still reads, as a launch that failed).
NOT_LAUNCHED = "not launched"   # no launch for lack of this run's time
LAUNCH_CUT = "launch cut"       # a launch sent with too little of the run's time, then cut
LAUNCH_PROBLEMS = (NOT_LAUNCHED, LAUNCH_CUT)

TIME_FIELDS = ("launched_at", "listed_at", "last_seen_at", "percent_changed_at", "waiting_since",
               "ended_at")


class JobTrack:
    """What is known of one launched job across polls and probe runs (times are epoch seconds).

    Kept in the state file between runs, so stalls, long waits and silences are measured from
    when they began, not from the current run. Only a status that the outcome table calls final
    ends a job: an error, an unknown status or a missing answer leaves it to be polled again.

    ``last_seen_at`` is the last readable status answer; ``percent_changed_at`` is when the stall
    clock last restarted (the percentage moved, or the job went from waiting to running);
    ``listed_at`` is when this check found the job in the API's job listing (launched by
    another run): silence counts from there until its first answer. ``waiting_since`` is when
    the job entered the waiting statuses. The move from waiting to
    running restarts the stall clock once per percentage (``resumed``): a job that only flips
    between waiting and running at the same percentage stalls all the same. ``error`` is what
    went wrong with the last status request (``problem_kind`` says which way), or why the job
    never started (``job_id`` None).
    """

    FIELDS = ("label", "hostname", "job_id", "launched_at", "status", "percent", "elapsed",
              "phase", "reason", "polls", "last_seen_at", "percent_changed_at", "waiting_since",
              "ended_at", "error", "error_is_final", "problem_kind", "unseen_polls", "target",
              "resumed", "launch_again", "listed_at", "launch_problem")

    def __init__(self, label: str, hostname: str, job_id: Any, launched_at: float,
                 target: Optional[str] = None) -> None:
        self.label = label
        self.hostname = hostname
        self.job_id = job_id
        self.launched_at = launched_at
        self.target = target
        self.status: Optional[str] = None
        self.percent: Optional[float] = None
        self.elapsed: Optional[float] = None
        self.phase: Optional[str] = None
        self.reason: Optional[str] = None
        self.polls = 0
        self.last_seen_at: Optional[float] = None
        self.percent_changed_at: Optional[float] = None
        self.resumed = False
        self.launch_again = False
        self.listed_at: Optional[float] = None   # found in the job listing, not launched here
        self.cut_pending: Optional[float] = None  # a --wait poll the deadline cut (not saved)
        self.waiting_since: Optional[float] = None
        self.ended_at: Optional[float] = None
        self.error: Optional[str] = None
        self.error_is_final = False
        self.problem_kind: Optional[str] = None
        self.launch_problem: Optional[str] = None
        self.unseen_polls = 0
        self.category: Optional[str] = None   # the table's word for ``status`` (not saved)

    # --- what happens to a job -----------------------------------------------------------------

    def observe(self, snapshot: JobStatus, now: float, category: Optional[str]) -> None:
        """Take a new snapshot; ``category`` is the outcome table's word for its status.

        A job whose percentage goes back while it runs is not progressing as Commvault
        reports jobs: the API is answering for something else, and the answer is not taken.
        """
        if category == "running" and snapshot.percent is not None and self.percent is not None \
                and snapshot.percent < self.percent and self.status == snapshot.status:
            self.unreadable(f"job {self.job_id} went back from {self.percent:g} % to "
                            f"{snapshot.percent:g} %")
            return
        self.polls += 1
        if self.percent_changed_at is None or snapshot.percent != self.percent:
            self.percent_changed_at = now
            self.resumed = False
        elif category == "running" and self.category == "waiting" and not self.resumed:
            self.percent_changed_at = now   # waiting is not stalling: once per percentage
            self.resumed = True
        if category == "waiting":
            if self.waiting_since is None:
                self.waiting_since = now
        else:
            self.waiting_since = None
        self.status = snapshot.status
        self.category = category
        self.percent = snapshot.percent
        self.elapsed = snapshot.elapsed
        self.phase = snapshot.phase
        self.reason = snapshot.reason
        self.last_seen_at = now
        self.unseen_polls = 0
        self.clear_problem()
        if category in FINAL_CATEGORIES:
            if self.ended_at is None:
                self.ended_at = now
        else:
            self.ended_at = None

    def unanswered(self, message: str) -> None:
        """This run's status request got no complete answer (or was never sent)."""
        self.polls += 1
        self._problem(NO_ANSWER, message)

    def unreadable(self, message: str) -> None:
        """This run's status request was answered with an error or an answer not to believe."""
        self.polls += 1
        self._problem(UNREADABLE, message)

    def not_started(self, message: str, again: bool = False) -> None:
        """The launch failed, or its answer never came back: there is no job to follow.
        ``again``: the failure says nothing of the target (no answer, or a passing 429/5xx),
        so the next run launches it again instead of waiting a relaunch interval."""
        self.job_id = None
        self.error = message
        self.error_is_final = True
        self.problem_kind = None
        self.launch_problem = None
        self.launch_again = again

    def not_launched(self, message: str, sent: bool = False) -> None:
        """The run had no fair share of its time left to launch (or, ``sent``, its launch
        request was sent with less and cut by the probe's deadline): nothing is known of the
        target; launched again next run, unless the job listing shows the cut launch started."""
        self.not_started(message, again=True)
        self.launch_problem = LAUNCH_CUT if sent else NOT_LAUNCHED

    def started(self, job_id: Any) -> None:
        """The launch answered with this job ID."""
        self.job_id = job_id
        self.clear_problem()

    def clear_problem(self) -> None:
        self.error = None
        self.error_is_final = False
        self.problem_kind = None
        self.launch_problem = None

    def _problem(self, kind: str, message: str) -> None:
        self.error = message
        self.error_is_final = False
        self.problem_kind = kind

    # --- what is known -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Nothing more to poll: the job ended as the table says, or it never started."""
        return self.ended_at is not None or self.job_id is None

    @property
    def silent_since(self) -> float:
        """Since when nothing has been heard of the job: its last answer, else when this
        check found it in the job listing, else its launch."""
        if self.last_seen_at is not None:
            return self.last_seen_at
        return self.listed_at if self.listed_at is not None else self.launched_at

    def duration(self, now: float) -> float:
        """The job's running time: the API's elapsed time, else time since launch."""
        if self.elapsed is not None:
            return self.elapsed
        return max(0.0, (self.ended_at or now) - self.launched_at)

    # --- the state file ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def from_dict(cls, data: Any, now: float,
                  category: Callable[[Optional[str]], Optional[str]]) -> JobTrack:
        """A track from the state file, every field checked: a ``ValueError`` says which is bad.

        Times must be finite, after the launch and not in the future (``CLOCK_SKEW`` allowed):
        a time in the future would hold a job "ended 0:00:00 ago" for ever.
        """
        if not isinstance(data, dict):
            raise ValueError("a job record is not an object")
        _text(data, "label")
        _text(data, "hostname")
        launched_at = _time(data, "launched_at", now)
        if launched_at is None:
            raise ValueError("'launched_at' is missing")
        job_id = data.get("job_id")
        if job_id is None:
            if not isinstance(data.get("error"), str):
                raise ValueError("'job_id' is missing and no launch error is recorded")
        elif job_id_problem(job_id):
            raise ValueError(f"'job_id' {job_id_problem(job_id)}")
        track = cls(data["label"], data["hostname"], job_id, launched_at,
                    target=_optional(data, "target", str))
        for name in ("listed_at", "last_seen_at", "percent_changed_at", "waiting_since",
                     "ended_at"):
            value = _time(data, name, now)
            if value is not None and value < launched_at - CLOCK_SKEW:
                raise ValueError(f"'{name}' is before the launch")
            setattr(track, name, value)
        for name in ("status", "phase", "reason", "error"):
            setattr(track, name, _optional(data, name, str))
        track.percent = _number(data, "percent", 0, 100)
        track.elapsed = _number(data, "elapsed", 0, MAX_SECONDS)
        track.polls = _count(data, "polls")
        track.resumed = _optional(data, "resumed", bool) is True
        again = _optional(data, "launch_again", bool) is True
        track.unseen_polls = _count(data, "unseen_polls")
        kind = data.get("problem_kind")
        if kind is not None and kind not in PROBLEM_KINDS:
            raise ValueError("'problem_kind' is not a known kind")
        launch_problem = data.get("launch_problem")
        if launch_problem is not None and launch_problem not in LAUNCH_PROBLEMS:
            raise ValueError("'launch_problem' is not a known kind")
        if job_id is None and launch_problem is not None:
            track.not_launched(data["error"], sent=launch_problem == LAUNCH_CUT)
        elif job_id is None:
            track.not_started(data["error"], again)
        elif track.error is not None:
            # An error of an earlier version was final for a job with an ID; it is polled again.
            track.problem_kind = kind or UNREADABLE
        track.category = category(track.status)
        if track.ended_at is not None and track.category not in FINAL_CATEGORIES:
            track.ended_at = None   # an end the table does not call final: polled again
        return track


CLOCK_SKEW = 300.0            # seconds a recorded time may be ahead of this host's clock
MAX_SECONDS = 10 * 366 * 86400
_EPOCH_2000 = 946684800.0


def _text(data: Dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or any(ord(c) < 32 for c in value):
        raise ValueError(f"'{name}' is not a one-line text")
    return value


def _optional(data: Dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"'{name}' is not a {kind.__name__}")
    return value


def _number(data: Dict[str, Any], name: str, low: float, high: float) -> Optional[float]:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"'{name}' is not a number from {low:g} to {high:g}")
    return float(value)


def _count(data: Dict[str, Any], name: str) -> int:
    value = data.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"'{name}' is not a whole number of at least 0")
    return value


def _time(data: Dict[str, Any], name: str, now: float) -> Optional[float]:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < _EPOCH_2000:
        raise ValueError(f"'{name}' is not a time (seconds since 1970, after 2000)")
    if value > now + CLOCK_SKEW:
        raise ValueError(f"'{name}' is {value - now:.0f} s in the future of this host's clock")
    return float(value)
