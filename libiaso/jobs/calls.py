"""Backup and restore jobs through the API: start one, read one snapshot of its status.

Endpoints and field locations come from the API profile; what an answer means is read by
``libiaso.api.answers``.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..api.answers import JobStatus, job_id_problem, job_status, started_job
from ..api.client import IasoClient
from ..errors import WrongType


def start_backup(client: IasoClient, hostname: str, level: str,
                 params: Optional[Mapping[str, Any]] = None) -> Any:
    """Start a backup of ``hostname`` at ``level`` (with the target's extra ``params`` the
    profile's backup call names); the job ID."""
    answer = client.call("backup", {**(params or {}), "hostname": hostname, "level": level})
    return started_job(answer, "backup", hostname)


def start_restore(client: IasoClient, hostname: str, file_name: str, source_path: str,
                  destination: str, params: Optional[Mapping[str, Any]] = None) -> Any:
    """Start the restore of one file of ``hostname`` to ``destination``; the job ID."""
    answer = client.call("restore", {**(params or {}), "hostname": hostname,
                                     "file_name": file_name, "source_path": source_path,
                                     "destination": destination})
    return started_job(answer, "restore", hostname)


def read_status(client: IasoClient, job_id: Any, hostname: str) -> JobStatus:
    """One snapshot of job ``job_id`` of ``hostname``; an ID unfit for a request is not sent."""
    problem = job_id_problem(job_id)
    if problem:
        raise WrongType(f"job ID {problem}: not sent", field="job_id")
    answer = client.call("job_status", {"job_id": job_id, "hostname": hostname})
    return job_status(answer, job_id, hostname)
