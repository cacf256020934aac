"""Simulated Commvault jobs that progress over simulated time, host by host as planned."""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .scenario import HostPlan, Scenario

FINAL_STATUS = {"success": "Completed", "warnings": "Completed w/ one or more warnings",
                "errors": "Completed w/ one or more errors"}
DEFAULT_REASONS = {
    "failed": "Failure reason: error writing to the MediaAgent library",
    "killed": "Job was killed by the administrator",
    "failed_to_start": "Client is not reachable: check that the Commvault services run",
    "pending": "Waiting for resources: no drive available in the storage policy",
}


@dataclass
class Job:
    job_id: int
    kind: str
    hostname: str
    created: float
    plan: HostPlan
    polls: int = 0


class JobBook:
    """Every job started since the last reset, with thread-safe creation and look-up."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._jobs: Dict[int, Job] = {}
        self._ids = itertools.count(41000)
        self._lock = threading.Lock()

    def start(self, kind: str, hostname: str, scenario: Scenario) -> Job:
        with self._lock:
            job = Job(next(self._ids), kind, hostname, self._clock(), scenario.plan(hostname))
            self._jobs[job.job_id] = job
            return job

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()

    def status(self, job_id: Any, hostname: str, scenario: Scenario) -> Optional[Dict[str, Any]]:
        """The job's status document, or None when the job is not (yet) visible."""
        try:
            key = int(job_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.hostname != hostname:
                return None
            job.polls += 1
            if job.polls <= job.plan.invisible_polls:
                return None
        return describe(job, (self._clock() - job.created) * scenario.job_speed,
                        job.plan.duration or scenario.job_duration)


def describe(job: Job, sim_elapsed: float, duration: float) -> Dict[str, Any]:
    plan = job.plan
    natural = min(100.0, 100.0 * sim_elapsed / duration) if duration > 0 else 100.0
    status, percent, reason = "Running", natural, None
    if plan.outcome in FINAL_STATUS:
        if natural >= 100.0:
            status = FINAL_STATUS[plan.outcome]
            sim_elapsed = duration
    elif plan.outcome in ("failed", "killed"):
        if natural >= plan.at_percent:
            status = "Failed" if plan.outcome == "failed" else "Killed"
            percent = plan.at_percent
            reason = plan.reason or DEFAULT_REASONS[plan.outcome]
            sim_elapsed = duration * plan.at_percent / 100.0
    elif plan.outcome == "failed_to_start":
        status, percent, sim_elapsed = "Failed to Start", 0.0, 0.0
        reason = plan.reason or DEFAULT_REASONS[plan.outcome]
    elif plan.outcome == "stuck":
        percent = min(natural, plan.at_percent)
    elif plan.outcome == "pending":
        status, percent = "Pending", 0.0
    document: Dict[str, Any] = {
        "jobId": job.job_id, "hostname": job.hostname, "status": status,
        "percentComplete": round(percent, 1), "elapsedSeconds": int(sim_elapsed),
        "phase": _phase(job.kind, percent),
    }
    if plan.outcome == "pending":
        document["pendingReason"] = plan.reason or DEFAULT_REASONS["pending"]
    if reason:
        document["failureReason"] = reason
    return document


def _phase(kind: str, percent: float) -> str:
    if kind == "restore":
        return "Restore"
    if percent < 10:
        return "Scan"
    return "Backup" if percent < 95 else "Archive Index"
