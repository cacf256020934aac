"""Simulated Commvault jobs that progress over simulated time, host by host as planned.

One job book serves both contracts: ``describe`` words a snapshot as our contract's job status,
``job_summary`` as a Commvault ``jobSummary`` (its status words are Commvault's in both).
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .scenario import HostPlan, Scenario

FINAL_STATUS = {"success": "Completed", "warnings": "Completed w/ one or more warnings",
                "errors": "Completed w/ one or more errors"}
DEFAULT_REASONS = {
    "failed": "Failure reason: error writing to the MediaAgent library",
    "killed": "Job was killed by the administrator",
    "failed_to_start": "Client is not reachable: check that the Commvault services run",
    "pending": "Waiting for resources: no drive available in the storage policy",
    "refused": "Client not licensed: the client has no license for this agent",
}


@dataclass
class Job:
    job_id: int
    kind: str
    hostname: str
    created: float
    plan: HostPlan
    polls: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)   # what the launch named


class JobBook:
    """Every job started since the last reset, with thread-safe creation and look-up."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._jobs: Dict[int, Job] = {}
        self._ids = itertools.count(41000)
        self._lock = threading.Lock()

    def start(self, kind: str, hostname: str, scenario: Scenario,
              details: Optional[Mapping[str, Any]] = None) -> Job:
        with self._lock:
            job = Job(next(self._ids), kind, hostname, self._clock(), scenario.plan(hostname),
                      details=dict(details or {}))
            self._jobs[job.job_id] = job
            return job

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()

    def recent(self, kind: str, hostname: str, scenario: Scenario
               ) -> List[Tuple[Job, float, float]]:
        """Every job of ``kind`` of ``hostname``, newest first, with its simulated elapsed time
        and planned duration (a listing counts no poll)."""
        with self._lock:
            found = [job for job in self._jobs.values()
                     if job.kind == kind and job.hostname.lower() == hostname.lower()]
            now = self._clock()
        found.sort(key=lambda job: job.created, reverse=True)
        return [(job, (now - job.created) * scenario.job_speed,
                 job.plan.duration or scenario.job_duration) for job in found]

    def status(self, job_id: Any, hostname: str, scenario: Scenario) -> Optional[Dict[str, Any]]:
        """The job's status document, or None when the job is not (yet) visible."""
        seen = self.snapshot(job_id, hostname, scenario)
        return None if seen is None else describe(*seen)

    def snapshot(self, job_id: Any, hostname: Optional[str],
                 scenario: Scenario) -> Optional[Tuple[Job, float, float]]:
        """The job, its simulated elapsed time and planned duration, or None when the job is
        not (yet) visible; ``hostname`` None looks the job up by its ID alone (Commvault)."""
        try:
            key = int(job_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (hostname is not None and job.hostname != hostname):
                return None
            job.polls += 1
            if job.polls <= job.plan.invisible_polls:
                return None
        return (job, (self._clock() - job.created) * scenario.job_speed,
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


def job_summary(job: Job, sim_elapsed: float, duration: float,
                now: Callable[[], float]) -> Dict[str, Any]:
    """The snapshot as Commvault's ``jobs[].jobSummary`` (GET /Job/{jobId}): the job ID a
    number, times in epoch seconds, a pending job's reason in pendingReason. A failed job's
    reason is not in the summary: Commvault gives it in POST /JobDetails only."""
    document = describe(job, sim_elapsed, duration)
    status = document["status"]
    finished = status not in ("Running", "Pending")
    moment = int(now())
    started = moment - int(sim_elapsed)
    details = job.details
    summary: Dict[str, Any] = {
        "jobId": job.job_id, "status": status, "localizedStatus": status,
        "percentComplete": int(document["percentComplete"]),
        "jobStartTime": started,
        "jobEndTime": started + document["elapsedSeconds"] if finished else 0,
        "lastUpdateTime": moment, "jobElapsedTime": document["elapsedSeconds"],
        "jobType": "Restore" if job.kind == "restore" else "Backup",
        "localizedOperationName": "Restore" if job.kind == "restore" else "Backup",
        "appTypeName": "File System", "currentPhaseName": document["phase"],
        "pendingReason": document.get("pendingReason") or "",
        "isVisible": True, "jobSubmitErrorCode": 0,
        "subclient": {"clientName": job.hostname, "appName": "File System",
                      "backupsetName": details.get("backupset", "defaultBackupSet"),
                      "subclientName": "default"},
        "destinationClient": {"clientName": details.get("destination", job.hostname)},
    }
    if job.kind == "backup":
        summary["backupLevelName"] = details.get("level", "Incremental")
    if str(details.get("subclient", "")).isdigit():
        summary["subclient"]["subclientId"] = int(details["subclient"])
    return summary
