"""Backup and restore jobs through the API: start one, read one snapshot of its status.

Endpoints and field locations come from the API profile; what an answer means is read by
``libiaso.api.answers``.
"""
from __future__ import annotations

from typing import Any

from ..api.answers import JobStatus, job_status, started_job
from ..api.client import IasoClient


def start_backup(client: IasoClient, hostname: str, level: str) -> Any:
    """Start a backup of ``hostname`` at ``level``; the job ID."""
    return started_job(client.call("backup", {"hostname": hostname, "level": level}), "backup",
                       hostname)


def start_restore(client: IasoClient, hostname: str, file_name: str, source_path: str,
                  destination: str) -> Any:
    """Start the restore of one file of ``hostname`` to ``destination``; the job ID."""
    answer = client.call("restore", {"hostname": hostname, "file_name": file_name,
                                     "source_path": source_path, "destination": destination})
    return started_job(answer, "restore", hostname)


def read_status(client: IasoClient, job_id: Any, hostname: str) -> JobStatus:
    """One snapshot of job ``job_id`` of ``hostname``."""
    answer = client.call("job_status", {"job_id": job_id, "hostname": hostname})
    return job_status(answer, job_id, hostname)
