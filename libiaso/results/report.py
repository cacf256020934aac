"""``iaso-report``: availability and performance per probe and environment, from the results log.

For sites without Elasticsearch. The log is streamed line by line and every figure is kept in
bounded memory (counters, a fixed histogram for percentiles, the N worst outages), so a log of
millions of lines costs time, not memory. Availability is ITIL style: the time the service was
OK over the time it was observed; a record's state is taken to last until the next record of
the same probe and environment, for at most ``--gap`` seconds (a silence longer than that is not
observed time). Lines that are not records are skipped and counted.
"""
from __future__ import annotations

import heapq
import json
import math
import sys
from datetime import datetime, timezone
from typing import IO, Any, Dict, Iterable, List, Optional, Tuple

import click

from ..states import State

STATES = tuple(state.name for state in State)


class Histogram:
    """Percentiles within 2 % of the truth in constant memory: log-spaced buckets."""

    RATIO = 1.02
    LOW = 1e-4

    def __init__(self) -> None:
        self.buckets: Dict[int, int] = {}
        self.count = 0
        self.maximum = 0.0

    def add(self, value: float) -> None:
        index = 0 if value <= self.LOW else int(math.log(value / self.LOW, self.RATIO)) + 1
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.maximum = max(self.maximum, value)

    def quantile(self, q: float) -> Optional[float]:
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                value = self.LOW * self.RATIO ** (index - 0.5) if index else self.LOW
                return min(value, self.maximum)
        return self.maximum


class Series:
    """Everything the report says about one probe in one environment."""

    def __init__(self, gap: float, worst: int) -> None:
        self.gap = gap
        self.worst = worst
        self.runs = 0
        self.by_state = [0, 0, 0, 0]
        self.observed = 0.0
        self.ok_time = 0.0
        self.last: Optional[Tuple[float, int]] = None
        self.outage: Optional[List[Any]] = None
        self.outages: List[Tuple[float, float, float, str]] = []
        self.response = Histogram()
        self.jobs_seen: set = set()
        self.jobs_by_state = [0, 0, 0, 0]
        self.job_durations = Histogram()

    def add(self, when: float, code: int, summary: str, record: Dict[str, Any]) -> None:
        self.runs += 1
        self.by_state[code] += 1
        if self.last is not None and when >= self.last[0]:
            span = min(when - self.last[0], self.gap)
            self.observed += span
            if self.last[1] == 0:
                self.ok_time += span
        if self.last is None or when >= self.last[0]:
            self.last = (when, code)
        if code != 0 and self.outage is None:
            self.outage = [when, summary]
        elif code == 0 and self.outage is not None:
            self._close_outage(when, ongoing=False)
        timing = record["iaso"].get("response_time_s")
        if isinstance(timing, (int, float)):
            self.response.add(float(timing))
        for job in record["iaso"].get("jobs") or ():
            key = (job.get("host"), job.get("job_id"))
            if job.get("ended") and job.get("job_id") and key not in self.jobs_seen:
                self.jobs_seen.add(key)
                self.jobs_by_state[STATES.index(job.get("state", "UNKNOWN"))] += 1
                if isinstance(job.get("duration_s"), (int, float)):
                    self.job_durations.add(float(job["duration_s"]))

    def _close_outage(self, end: float, ongoing: bool) -> None:
        assert self.outage is not None
        start, reason = self.outage
        entry = (end - start, start, end, reason + (" (ongoing)" if ongoing else ""))
        if len(self.outages) < self.worst:
            heapq.heappush(self.outages, entry)
        else:
            heapq.heappushpop(self.outages, entry)
        self.outage = None

    def summary(self) -> Dict[str, Any]:
        if self.outage is not None and self.last is not None:
            self._close_outage(self.last[0], ongoing=True)
        result: Dict[str, Any] = {
            "runs": self.runs,
            "states": dict(zip(STATES, self.by_state)),
            "observed_s": round(self.observed, 3),
            "availability_pct": round(100 * self.ok_time / self.observed, 3)
            if self.observed else None,
            "response_time_s": {"p50": _round(self.response.quantile(0.5)),
                                "p95": _round(self.response.quantile(0.95)),
                                "samples": self.response.count},
            "worst_outages": [{"start": _iso(start), "end": _iso(end),
                               "duration_s": round(length, 3), "reason": reason}
                              for length, start, end, reason in
                              sorted(self.outages, reverse=True)],
        }
        if self.jobs_seen:
            ended = len(self.jobs_seen)
            result["jobs"] = {
                "ended": ended,
                "by_state": dict(zip(STATES, self.jobs_by_state)),
                "success_pct": round(100 * self.jobs_by_state[0] / ended, 2),
                "duration_s": {"p50": _round(self.job_durations.quantile(0.5)),
                               "p95": _round(self.job_durations.quantile(0.95)),
                               "max": _round(self.job_durations.maximum or None)},
            }
        return result


def build_report(lines: Iterable[str], since: Optional[float] = None,
                 until: Optional[float] = None, gap: float = 900.0,
                 worst: int = 5) -> Dict[str, Any]:
    series: Dict[Tuple[str, str], Series] = {}
    read = skipped = 0
    first = last = None
    for line in lines:
        read += 1
        try:
            record = json.loads(line)
            iaso = record["iaso"]
            when = _epoch(record["@timestamp"])
            code = int(iaso["state"]["code"])
            key = (str(iaso["probe"]), str(iaso.get("environment") or "-"))
            summary = str(iaso.get("summary", ""))
            if not 0 <= code <= 3:
                raise ValueError(code)
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped += 1
            continue
        if (since is not None and when < since) or (until is not None and when >= until):
            continue
        first = when if first is None else min(first, when)
        last = when if last is None else max(last, when)
        if key not in series:
            series[key] = Series(gap, worst)
        series[key].add(when, code, summary, record)
    return {
        "period": {"from": _iso(first) if first is not None else None,
                   "to": _iso(last) if last is not None else None},
        "lines_read": read, "lines_skipped": skipped,
        "series": [dict(probe=probe, environment=env, **series[(probe, env)].summary())
                   for probe, env in sorted(series)],
    }


def render_text(report: Dict[str, Any]) -> str:
    period = report["period"]
    out = [f"IASO availability report, {period['from']} .. {period['to']} "
           f"({report['lines_read']} lines, {report['lines_skipped']} skipped)"]
    for item in report["series"]:
        states = ", ".join(f"{name} {count}" for name, count in item["states"].items() if count)
        out.append("")
        out.append(f"{item['probe']}  {item['environment']}")
        out.append(f"  runs {item['runs']} ({states})")
        availability = item["availability_pct"]
        out.append(f"  availability {availability:.2f} % of {_clock(item['observed_s'])} observed"
                   if availability is not None else "  availability: not enough runs")
        timing = item["response_time_s"]
        if timing["samples"]:
            out.append(f"  response time p50 {timing['p50']:.3f} s, p95 {timing['p95']:.3f} s")
        jobs = item.get("jobs")
        if jobs:
            durations = jobs["duration_s"]
            out.append(f"  jobs ended {jobs['ended']}: success {jobs['success_pct']:.1f} % "
                       f"({', '.join(f'{k} {v}' for k, v in jobs['by_state'].items() if v)}); "
                       f"duration p50 {_clock(durations['p50'])}, p95 "
                       f"{_clock(durations['p95'])}, max {_clock(durations['max'])}")
        if item["worst_outages"]:
            out.append("  worst outages:")
            for outage in item["worst_outages"]:
                out.append(f"    {outage['start']} .. {outage['end']}  "
                           f"{_clock(outage['duration_s'])}  {outage['reason'][:120]}")
    return "\n".join(out) + "\n"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 6)


def _clock(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def _lines(paths: List[str], stdin: IO[str]) -> Iterable[str]:
    if not paths:
        yield from stdin
        return
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from handle


@click.command("iaso-report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("logs", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--since", help="Start of the period (ISO 8601, e.g. 2026-11-01 or "
                              "2026-11-01T00:00:00Z).")
@click.option("--until", help="End of the period (excluded).")
@click.option("--gap", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="Longest time, in seconds, a run's state counts for.")
@click.option("--worst", type=click.IntRange(0, 100), default=5, show_default=True,
              help="How many of the longest outages to list.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
def main(logs: Tuple[str, ...], since: Optional[str], until: Optional[str], gap: float,
         worst: int, as_json: bool) -> None:
    """Availability, outages, response times and job outcomes from results logs (LOGS, in
    order, rotated ones first; standard input if none)."""
    try:
        start = _epoch(since if "T" in (since or "T") else f"{since}T00:00:00Z") \
            if since else None
        end = _epoch(until if "T" in (until or "T") else f"{until}T00:00:00Z") if until else None
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date: {exc}") from None
    report = build_report(_lines(list(logs), sys.stdin), start, end, gap, worst)
    click.echo(json.dumps(report, indent=1) if as_json else render_text(report), nl=False)


if __name__ == "__main__":
    main()
