"""iaso-report on logs with known answers: availability, outages, percentiles, jobs, bad lines."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from conftest import ROOT

from libiaso.results.log import utc_timestamp
from libiaso.results.report import Histogram, build_report

T0 = 1_800_000_000.0   # 2027-01-15T08:00:00Z


def line(offset: float, code: int, probe: str = "check_iaso_life", env: str = "prod",
         timing: Optional[float] = 0.1, jobs: Optional[List[Dict[str, Any]]] = None) -> str:
    iaso: Dict[str, Any] = {"probe": probe, "environment": env,
                            "state": {"name": ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code],
                                      "code": code},
                            "summary": f"{env}: state {code} at {offset:g}"}
    if timing is not None:
        iaso["response_time_s"] = timing
    if jobs:
        iaso["jobs"] = jobs
    return json.dumps({"@timestamp": utc_timestamp(T0 + offset), "iaso": iaso})


def life_log() -> List[str]:
    """One run a minute for 100 minutes; CRITICAL from minute 30 to 39 and 70 to 74."""
    lines = []
    for minute in range(100):
        code = 2 if 30 <= minute < 40 or 70 <= minute < 75 else 0
        lines.append(line(minute * 60, code, timing=0.01 * (minute % 10 + 1)))
    return lines


def test_ok_availability_outages_and_percentiles() -> None:
    report = build_report(life_log())
    (series,) = report["series"]
    assert series["runs"] == 100 and series["states"] == {"OK": 85, "WARNING": 0,
                                                          "CRITICAL": 15, "UNKNOWN": 0}
    assert series["observed_s"] == 99 * 60
    assert series["availability_pct"] == round(100 * 84 / 99, 3)
    first, second = series["worst_outages"]
    assert (first["start"], first["end"], first["duration_s"]) == (
        utc_timestamp(T0 + 1800)[:19] + "Z", utc_timestamp(T0 + 2400)[:19] + "Z", 600)
    assert first["reason"] == "prod: state 2 at 1800"
    assert second["duration_s"] == 300
    timing = series["response_time_s"]
    assert abs(timing["p50"] - 0.05) <= 0.05 * 0.02 and abs(timing["p95"] - 0.10) <= 0.002


def test_ok_gaps_are_not_observed_and_bad_lines_are_counted() -> None:
    lines = [line(0, 0), "not json", '{"iaso": {}}', line(60, 0)[:40], line(60, 0),
             line(60 + 7200, 2), json.dumps({"@timestamp": "x", "iaso": {"state": {}}})]
    report = build_report(lines, gap=900)
    assert report["lines_read"] == 7 and report["lines_skipped"] == 4
    (series,) = report["series"]
    assert series["observed_s"] == 60 + 900
    assert series["worst_outages"][0]["reason"].endswith("(ongoing)")


def test_ok_period_filter_and_series_split() -> None:
    lines = [*life_log(), line(30, 0, env="lab"), line(90, 1, env="lab")]
    report = build_report(lines, since=T0 + 3600, until=T0 + 4800)
    by_env = {s["environment"]: s for s in report["series"]}
    assert by_env["prod"]["runs"] == 20 and "lab" not in by_env


def test_ok_each_job_counted_once_when_ended() -> None:
    def job(job_id: str, state: str, ended: bool, duration: float) -> Dict[str, Any]:
        return {"host": "vm-a", "job_id": job_id, "state": state, "ended": ended,
                "duration_s": duration}

    lines = [line(0, 0, "check_iaso_backup", timing=None, jobs=[job("1", "OK", False, 10)]),
             line(600, 0, "check_iaso_backup", timing=None, jobs=[job("1", "OK", True, 3600)]),
             line(1200, 0, "check_iaso_backup", timing=None, jobs=[job("1", "OK", True, 3600)]),
             line(1800, 2, "check_iaso_backup", timing=None,
                  jobs=[job("2", "CRITICAL", True, 1200)])]
    (series,) = build_report(lines)["series"]
    jobs = series["jobs"]
    assert jobs["ended"] == 2 and jobs["success_pct"] == 50.0
    assert jobs["by_state"]["CRITICAL"] == 1 and jobs["duration_s"]["max"] == 3600


def test_ok_histogram_stays_within_two_percent() -> None:
    histogram = Histogram()
    values = [0.001 * (i + 1) for i in range(10000)]
    for value in values:
        histogram.add(value)
    for q in (0.5, 0.95, 0.99):
        exact = values[int(q * len(values)) - 1]
        assert abs(histogram.quantile(q) - exact) <= 0.02 * exact  # type: ignore[operator]
    assert len(histogram.buckets) < 600


def test_ok_command_line_text_and_json(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    log.write_text("\n".join(life_log()) + "\n")
    text = subprocess.run([sys.executable, "-m", "libiaso.results.report", str(log)],
                          capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "check_iaso_life  prod" in text and "availability 84.85 % of 1:39:00 observed" in text
    assert "worst outages:" in text and "0:10:00  prod: state 2 at 1800" in text
    data = json.loads(subprocess.run([sys.executable, "-m", "libiaso.results.report", "--json",
                                      "--since", "2027-01-15T08:30:00Z", str(log)],
                                     capture_output=True, text=True, cwd=ROOT,
                                     check=True).stdout)
    assert data["series"][0]["runs"] == 70
