"""The results log: one JSON line per probe run, for Elasticsearch and for iaso-report.

Field names follow the Elastic Common Schema, version ``ECS_VERSION``, where one exists
(``@timestamp``, ``ecs.*``, ``event.*``, ``service.*``, ``host.*``, ``error.*``) and live under
``iaso.*`` otherwise; docs/results-log.md describes every field, and tests/test_ecs.py checks
names, types and values against that version's published field list. Many probes append to the
same file at the same moment, so each record is written with one ``write`` on a descriptor opened
with O_APPEND: lines never interleave, and since the file is opened afresh by every run,
logrotate's ``create`` needs nothing restarted.
Writing the log never changes a probe's state: a failure only adds a line to long output.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from typing import Any, Dict, List, Optional

from .. import __version__
from ..local_files import LocalFileError, open_regular
from ..states import State

ECS_VERSION = "9.4.0"
OUTCOMES = ("success", "failure", "failure", "unknown")
RESPONSE_TIME_METRICS = ("time", "time_avg", "login_time")
RECORD_LIMIT = 60000


def utc_timestamp(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as Elasticsearch's date type expects."""
    seconds = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int((epoch - seconds) * 1000):03d}Z"


def build_record(*, probe: str, environment: Optional[str], started: float, duration: float,
                 code: int, summary: str, metrics: List[Dict[str, Any]],
                 jobs: List[Dict[str, Any]], components: List[Dict[str, Any]],
                 error: Optional[BaseException]) -> Dict[str, Any]:
    """One run as a JSON-ready record (no secret: built from what the probe printed).

    ``event.kind`` is ``state``: each run reports, at its own interval, which of a fixed set of
    states (OK, WARNING, CRITICAL, UNKNOWN) IASO is in, as ECS describes that kind. A number
    that is not finite becomes null: Elasticsearch, and JSON itself, have no place for it.
    """
    iaso: Dict[str, Any] = {
        "probe": probe,
        "version": __version__,
        "environment": environment,
        "state": {"name": State(code).name, "code": code},
        "summary": summary,
        "duration_s": round(duration, 6),
        "metrics": metrics,
    }
    timing = next((m["value"] for m in metrics if m["name"] in RESPONSE_TIME_METRICS), None)
    if timing is not None:
        iaso["response_time_s"] = timing
    if jobs:
        iaso["jobs"] = jobs
        iaso["targets"] = [job["host"] for job in jobs]
    if components:
        iaso["components"] = components
        iaso["unhealthy_components"] = [c["name"] for c in components if not c["healthy"]]
    service = {"name": "IASO", "type": "iaso"}
    if environment:
        service["environment"] = environment
    record: Dict[str, Any] = {
        "@timestamp": utc_timestamp(started),
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "state", "dataset": "iaso.probe", "module": "iaso",
                  "duration": int(duration * 1e9), "outcome": OUTCOMES[code]},
        "service": service,
        "host": {"hostname": socket.gethostname()},
        "iaso": _finite(iaso),
    }
    if error is not None:
        record["error"] = {"type": type(error).__name__,
                           "message": str(getattr(error, "message", error)) or summary}
    return record


TEXT_LIMITS = (1000, 200)   # the long texts of a record, cut to the first, then the second


def fitted(record: Dict[str, Any], size: Any) -> Dict[str, Any]:
    """``record`` made to fit ``RECORD_LIMIT`` (``size`` measures a record as it will be
    written): the long texts cut first (summary, error message, each job's reason and summary),
    then the jobs beyond what fits left out, counted in ``iaso.jobs_omitted`` and the record
    marked ``iaso.truncated``; a run's record is never dropped for its size."""
    if size(record) <= RECORD_LIMIT:
        return record
    record = json.loads(json.dumps(record))
    iaso = record["iaso"]
    iaso["truncated"] = True
    for limit in TEXT_LIMITS:
        iaso["summary"] = _cut(iaso.get("summary"), limit)
        if "error" in record:
            record["error"]["message"] = _cut(record["error"].get("message"), limit)
        for job in iaso.get("jobs", []):
            job["reason"] = _cut(job.get("reason"), limit // 2)
            job["summary"] = _cut(job.get("summary"), limit // 2)
        if size(record) <= RECORD_LIMIT:
            return record
    jobs = iaso.get("jobs", [])
    while jobs and size(record) > RECORD_LIMIT:
        kept = max(0, len(jobs) * RECORD_LIMIT // max(1, size(record)) - 1)
        iaso["jobs_omitted"] = iaso.get("jobs_omitted", 0) + len(jobs) - kept
        del jobs[kept:]
        iaso["targets"] = [job["host"] for job in jobs]
    return record


def _cut(text: Any, limit: int) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 3] + "..."
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def append_record(path: str, line: str) -> Optional[str]:
    """Append one line with a single write; the reason it could not be done, or None."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    if len(data) > RECORD_LIMIT:
        return f"results log record of {len(data)} bytes not written (limit {RECORD_LIMIT})"
    try:
        fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644, devices=True)
    except LocalFileError as exc:
        return f"results log {path} {exc.strerror}: record not written"
    except OSError as exc:
        return f"results log {path} cannot be opened: {exc.strerror}"
    try:
        written = os.write(fd, data)
    except OSError as exc:
        return f"results log {path} cannot be written: {exc.strerror}"
    finally:
        os.close(fd)
    if written != len(data):
        return f"results log {path}: only {written} of {len(data)} bytes written (disk full?)"
    return None
