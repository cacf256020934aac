"""The results-log record of one probe run.

``RunRecord`` gathers, as the runner goes, what the results log needs; ``keep()`` appends it.
A measurement that carries more than a number (a job, a component) says itself how it goes into
the record, through the ``Recorded`` protocol; plain numeric metrics go in as metrics. Writing
the record never changes the probe's state: a problem becomes a note in long output.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Protocol, runtime_checkable

from ..config.settings import Config
from ..redaction import Redactor
from ..results.log import append_record, build_record, fitted
from ..states import State
from .measurement import failure_of


@runtime_checkable
class Recorded(Protocol):
    """A measurement that knows its place in the results log (``iaso.<section>[]``)."""

    @property
    def record_section(self) -> str:
        """``jobs`` or ``components``: the list of the record this entry joins."""

    def record_entry(self, state: State) -> Dict[str, Any]:
        """The entry, given the state the check judged it to be in."""


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
        sections = _measurements(self.check)
        error = self.error or (failure_of(self.check.results) if self.check else None)
        record = build_record(probe=self.probe, environment=self.environment,
                              started=self.started, duration=duration, code=self.code,
                              summary=self.summary, metrics=sections["metrics"],
                              jobs=sections["jobs"], components=sections["components"],
                              error=error)
        masked = redactor.value(json.loads(json.dumps(record, default=str)))

        def line(document: Dict[str, Any]) -> str:
            return redactor(json.dumps(document, separators=(",", ":")))

        problem = append_record(path, line(fitted(masked, lambda d: len(line(d).encode()) + 1)))
        return ([problem] if problem else []) + self.notes


Sections = Dict[str, List[Dict[str, Any]]]


def _measurements(check: Any) -> Sections:
    sections: Sections = {"metrics": [], "jobs": [], "components": []}
    if check is None:
        return sections
    for result in check.results:
        metric = result.metric
        if metric is None:
            continue
        value = metric.value
        if isinstance(value, Recorded):
            sections.setdefault(value.record_section, []).append(
                value.record_entry(State.of(result.state)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            context = metric.contextobj
            sections["metrics"].append({
                "name": metric.name, "value": value, "unit": metric.uom or None,
                "min": metric.min, "max": metric.max,
                "warning": _range(getattr(context, "warning", None)),
                "critical": _range(getattr(context, "critical", None)),
            })
    return sections


def _range(value: Any) -> Optional[str]:
    text = str(value) if value is not None else ""
    return text or None
