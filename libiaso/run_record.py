"""What a probe run leaves behind: its results-log record and its application log.

``RunRecord`` gathers, as the runner goes, what the results log needs; ``keep()`` appends it.
``ApplicationLog`` is the human-readable trail of what the probe did (requests, retries,
re-logins, state-file decisions), every line masked against the run's secrets. Neither can
change the probe's state: a problem with either becomes a note in long output.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Tuple

from .config import Config, LogSettings
from .measurement import failure_of
from .redaction import Redactor
from .results import append_record, build_record

SKIPPED_CONTEXTS = ("failure", "job", "component", "overall")


class RunRecord:
    """One run, as the results log will tell it."""

    def __init__(self, probe: str, started: float) -> None:
        self.probe = probe
        self.started = started
        self.config: Optional[Config] = None
        self.environment: Optional[str] = None
        self.check: Any = None
        self.error: Optional[BaseException] = None
        self.code = 3
        self.summary = ""
        self.perfdata: List[str] = []
        self.long_lines: List[str] = []
        self.notes: List[str] = []

    def keep(self, duration: float, redactor: Redactor) -> List[str]:
        """Append the record to the results log, if one is configured; notes for long output."""
        path = self.config.logging.results if self.config is not None else None
        if not path:
            return self.notes
        metrics, jobs, components = _measurements(self.check)
        error = self.error or (failure_of(self.check.results) if self.check else None)
        record = build_record(probe=self.probe, environment=self.environment,
                              started=self.started, duration=duration, code=self.code,
                              summary=self.summary, metrics=metrics, jobs=jobs,
                              components=components, error=error)
        problem = append_record(path, redactor(json.dumps(record, separators=(",", ":"),
                                                          default=str)))
        return self.notes + ([problem] if problem else [])


class _RedactingFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))


class _QuietFileHandler(logging.FileHandler):
    """A full disk must not put logging's traceback on stderr: note it once instead."""

    def __init__(self, path: str, notes: List[str]) -> None:
        super().__init__(path, encoding="utf-8", delay=False)
        self.notes = notes
        self.failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            self.notes.append(f"application log {self.baseFilename} cannot be written "
                              "(disk full?); lines were lost")


class ApplicationLog:
    """The configured application log file, attached to the ``iaso`` loggers for one run."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.handler: Optional[logging.Handler] = None

    def open(self, settings: LogSettings, verbose_level: int, notes: List[str]) -> None:
        if not settings.application:
            return
        try:
            handler = _QuietFileHandler(settings.application, notes)
        except OSError as exc:
            notes.append(f"application log {settings.application} cannot be opened: "
                         f"{exc.strerror}")
            return
        level = min(verbose_level, getattr(logging, settings.level.upper()))
        handler.setLevel(level)
        handler.setFormatter(_RedactingFormatter(self.redactor))
        logger = logging.getLogger("iaso")
        logger.setLevel(min(logger.level or logging.WARNING, level))
        logger.addHandler(handler)
        self.handler = handler

    def close(self, last_line: str) -> None:
        if self.handler is None:
            return
        logger = logging.getLogger("iaso")
        if self.handler.level <= logging.INFO:
            logger.info("finished: %s", last_line)
        logger.removeHandler(self.handler)
        try:
            self.handler.close()
        except OSError:
            pass
        self.handler = None


Rows = List[Dict[str, Any]]


def _measurements(check: Any) -> Tuple[Rows, Rows, Rows]:
    metrics: List[Dict[str, Any]] = []
    jobs: List[Dict[str, Any]] = []
    components: List[Dict[str, Any]] = []
    if check is None:
        return metrics, jobs, components
    for result in check.results:
        metric = result.metric
        if metric is None:
            continue
        state = str(result.state).upper()
        if metric.context == "job":
            track, verdict = metric.value
            jobs.append({"host": track.hostname, "label": track.label,
                         "job_id": None if track.job_id is None else str(track.job_id),
                         "status": track.status, "percent": track.percent,
                         "duration_s": track.elapsed, "state": state,
                         "reason": track.reason or track.error, "ended": track.finished,
                         "summary": verdict.text})
        elif metric.context == "component":
            component = metric.value
            components.append({"name": component.name, "status": component.status,
                               "healthy": component.healthy, "state": state})
        elif metric.context not in SKIPPED_CONTEXTS and isinstance(metric.value, (int, float)):
            context = metric.contextobj
            metrics.append({
                "name": metric.name, "value": metric.value, "unit": metric.uom or None,
                "min": metric.min, "max": metric.max,
                "warning": _range(getattr(context, "warning", None)),
                "critical": _range(getattr(context, "critical", None)),
            })
    return metrics, jobs, components


def _range(value: Any) -> Optional[str]:
    text = str(value) if value is not None else ""
    return text or None


