"""Backup and restore jobs through the API: start one, read one snapshot of its status.

Endpoints and field locations come from the API profile. Every answer is checked against what
was asked: a status for another job or another host, a percentage outside 0..100 or a missing
status is the API's fault (CRITICAL), never silently taken for progress.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

from .client import Answer, IasoClient
from .errors import ApiStatusError, WrongType


class JobStatus(NamedTuple):
    """One snapshot of a job, as the API describes it."""

    job_id: Any
    hostname: str
    status: str
    percent: Optional[float]
    elapsed: Optional[float]
    phase: Optional[str]
    reason: Optional[str]


def start_backup(client: IasoClient, hostname: str, level: str) -> Any:
    """Start a backup of ``hostname`` at ``level``; the job ID."""
    return _started(client.call("backup", {"hostname": hostname, "level": level}), "backup",
                    hostname)


def start_restore(client: IasoClient, hostname: str, file_name: str, source_path: str,
                  destination: str) -> Any:
    """Start the restore of one file of ``hostname`` to ``destination``; the job ID."""
    answer = client.call("restore", {"hostname": hostname, "file_name": file_name,
                                     "source_path": source_path, "destination": destination})
    return _started(answer, "restore", hostname)


def read_status(client: IasoClient, job_id: Any, hostname: str) -> JobStatus:
    """One snapshot of job ``job_id`` of ``hostname``."""
    answer = client.call("job_status", {"job_id": job_id, "hostname": hostname})
    answered_id = answer.field("job_id", "id", required=False)
    if answered_id is not None and str(answered_id) != str(job_id):
        raise _wrong(answer, "job_id", f"the status answer is for job {answered_id}, "
                                       f"not job {job_id}")
    answered_host = answer.field("hostname", "str", required=False)
    if answered_host is not None and answered_host.lower() != hostname.lower():
        raise _wrong(answer, "hostname", f"the status answer for job {job_id} is for host "
                                         f"{answered_host}, not {hostname}")
    status = answer.field("status", "str").strip()
    if not status:
        raise _wrong(answer, "status", f"job {job_id} has an empty status")
    percent = answer.field("percent", "number", required=False)
    if percent is not None and not 0 <= percent <= 100:
        raise _wrong(answer, "percent", f"job {job_id} is {percent} % complete, outside 0..100")
    elapsed = answer.field("elapsed", "number", required=False)
    if elapsed is not None and elapsed < 0:
        raise _wrong(answer, "elapsed", f"job {job_id} has a negative elapsed time {elapsed}")
    reason = (answer.field("failure_reason", "str", required=False)
              or answer.field("pending_reason", "str", required=False))
    return JobStatus(job_id=job_id, hostname=hostname, status=status,
                     percent=None if percent is None else float(percent),
                     elapsed=None if elapsed is None else float(elapsed),
                     phase=answer.field("phase", "str", required=False), reason=reason)


def _started(answer: Answer, kind: str, hostname: str) -> Any:
    started = answer.field("started", "bool", required=False)
    if started is False:
        raise ApiStatusError(f"the {kind} of {hostname} did not start (the API answered "
                             "started: false)", url=answer.url, status=answer.status,
                             elapsed=answer.elapsed)
    job_id = answer.field("job_id", "id")
    if isinstance(job_id, str) and not job_id.strip():
        raise _wrong(answer, "job_id", f"the {kind} of {hostname} started with an empty job ID")
    return job_id


def _wrong(answer: Answer, name: str, message: str) -> WrongType:
    return WrongType(message, field=answer.endpoint.field_path(name), url=answer.url,
                     status=answer.status, elapsed=answer.elapsed)


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
