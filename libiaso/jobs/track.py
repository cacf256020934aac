"""What is known of one launched job across polls and probe runs."""
from __future__ import annotations

from typing import Any, Optional

from ..api.answers import JobStatus


class JobTrack:
    """What is known of one launched job across polls and probe runs (times are epoch seconds).

    Kept in the state file between runs, so stalls and long waits are measured from when they
    began, not from the current run.
    """

    FIELDS = ("label", "hostname", "job_id", "launched_at", "status", "percent", "elapsed",
              "phase", "reason", "polls", "last_seen_at", "percent_changed_at", "waiting_since",
              "ended_at", "error", "error_is_final")

    def __init__(self, label: str, hostname: str, job_id: Any, launched_at: float) -> None:
        self.label = label
        self.hostname = hostname
        self.job_id = job_id
        self.launched_at = launched_at
        self.status: Optional[str] = None
        self.percent: Optional[float] = None
        self.elapsed: Optional[float] = None
        self.phase: Optional[str] = None
        self.reason: Optional[str] = None
        self.polls = 0
        self.last_seen_at: Optional[float] = None
        self.percent_changed_at: Optional[float] = None
        self.waiting_since: Optional[float] = None
        self.ended_at: Optional[float] = None
        self.error: Optional[str] = None
        self.error_is_final = False

    def observe(self, snapshot: JobStatus, now: float, category: Optional[str]) -> None:
        """Take a new snapshot; ``category`` is the outcome table's word for its status.

        A job whose percentage goes back while it runs is not progressing as Commvault
        reports jobs: the API is answering for something else, and the job is failed here.
        """
        if category == "running" and snapshot.percent is not None and self.percent is not None \
                and snapshot.percent < self.percent and self.status == snapshot.status:
            self.fail(f"job {self.job_id} went back from {self.percent:g} % to "
                      f"{snapshot.percent:g} %", final=True)
            return
        self.polls += 1
        if self.percent_changed_at is None or snapshot.percent != self.percent:
            self.percent_changed_at = now
        if category == "waiting":
            if self.waiting_since is None or self.status != snapshot.status:
                self.waiting_since = now
        else:
            self.waiting_since = None
        self.status = snapshot.status
        self.percent = snapshot.percent
        self.elapsed = snapshot.elapsed
        self.phase = snapshot.phase
        self.reason = snapshot.reason
        self.last_seen_at = now
        self.error = None
        if category not in ("running", "waiting") and self.ended_at is None:
            self.ended_at = now

    def fail(self, message: str, final: bool) -> None:
        """Polling failed: ``final`` when the API's answer itself is wrong, not just absent."""
        self.polls += 1
        self.error = message
        self.error_is_final = final

    @property
    def finished(self) -> bool:
        return self.ended_at is not None or self.error_is_final

    def duration(self, now: float) -> float:
        """The job's running time: the API's elapsed time, else time since launch."""
        if self.elapsed is not None:
            return self.elapsed
        return max(0.0, (self.ended_at or now) - self.launched_at)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> JobTrack:
        if not isinstance(data, dict) or not isinstance(data.get("label"), str) \
                or not isinstance(data.get("hostname"), str) or "job_id" not in data \
                or not isinstance(data.get("launched_at"), (int, float)):
            raise ValueError("not a job record")
        track = cls(data["label"], data["hostname"], data["job_id"], float(data["launched_at"]))
        for name in cls.FIELDS[4:]:
            if name in data:
                setattr(track, name, data[name])
        return track
