"""iaso-report on large results logs: time and peak memory, to show memory stays flat.

Writes synthetic logs of 100,000 and 1,000,000 lines (six probes, three environments, runs a
minute apart, outages, backup jobs, a few corrupt lines), runs ``iaso-report`` on each in a
fresh process and prints wall time, throughput and peak RSS.

    .venv/bin/python bench/report_scale.py [--lines 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from libiaso.results.log import utc_timestamp

PROBES = ("check_iaso_life", "check_iaso_health", "check_iaso_response_time",
          "check_iaso_auth", "check_iaso_backup", "check_iaso_restore")
ENVIRONMENTS = ("lab", "qualif", "prod")


def write_log(path: Path, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = 1_790_000_000.0
    series = [(p, e) for p in PROBES for e in ENVIRONMENTS]
    with open(path, "w", encoding="utf-8") as out:
        for index in range(lines):
            probe, env = series[index % len(series)]
            when = start + (index // len(series)) * 60
            code = 2 if rng.random() < 0.01 else 0
            iaso = {"probe": probe, "version": "0.1.0", "environment": env,
                    "state": {"name": "CRITICAL" if code else "OK", "code": code},
                    "summary": f"{env}: synthetic run {index}", "duration_s": 0.2,
                    "response_time_s": round(rng.lognormvariate(-3, 0.5), 6),
                    "metrics": [{"name": "time", "value": 0.05, "unit": "s", "min": 0,
                                 "max": 10, "warning": "2", "critical": "10"}]}
            if probe in ("check_iaso_backup", "check_iaso_restore"):
                job = index // (len(series) * 60)
                iaso["jobs"] = [{"host": "vm-a", "job_id": str(job), "status": "Completed",
                                 "state": "CRITICAL" if code else "OK", "ended": True,
                                 "duration_s": 3000 + job % 600, "percent": 100}]
            record = {"@timestamp": utc_timestamp(when),
                      "event": {"kind": "event", "dataset": "iaso.probe",
                                "outcome": "failure" if code else "success"},
                      "service": {"name": "IASO", "environment": env},
                      "host": {"hostname": "nagios-1"}, "iaso": iaso}
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            if index % 250_000 == 0:
                out.write('{"@timestamp": "2026-11-2\n')   # a line cut by a full disk


def measure(log: Path) -> tuple[float, float, str]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "libiaso.results.report", "--json", str(log)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("iaso-report failed")
    report = json.loads(output)
    return wall, usage.ru_maxrss / 1024, f"{report['lines_read']} read, " \
                                         f"{report['lines_skipped']} skipped, " \
                                         f"{len(report['series'])} series"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        print(f"{'lines':>10} {'MiB':>7} {'wall s':>7} {'lines/s':>9} {'peak RSS MiB':>13}")
        for lines in (args.lines // 10, args.lines):
            log = Path(work) / f"results-{lines}.jsonl"
            write_log(log, lines)
            wall, rss, what = measure(log)
            print(f"{lines:10d} {log.stat().st_size / 2**20:7.0f} {wall:7.1f} "
                  f"{lines / wall:9.0f} {rss:13.1f}   ({what})")
            log.unlink()


if __name__ == "__main__":
    main()
