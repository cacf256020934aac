"""What a probe run costs next to the least any Python check could do.

Times, interleaved in one run, ``check_iaso_life`` (the installed console script) and a bare
script doing the same GET with requests, both against the simulator on loopback, and prints the
median wall time, CPU time and peak RSS of each, with the ratios. Target: at most 1.15x.

    .venv/bin/python bench/probe_cost.py [--runs 40]
"""
from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from libiaso.simulator.server import Simulator

BARE = """
import sys, requests
r = requests.get(sys.argv[1] + "/life", timeout=(5, 10))
ok = r.status_code == 200 and r.json().get("statusCode") == 200
state = "IASO LIFE OK" if ok else "IASO LIFE CRITICAL"
print(state + " | time=%.6fs" % r.elapsed.total_seconds())
sys.exit(0 if ok else 2)
"""


def measure(argv: List[str]) -> Tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in MiB of one child."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    probe = Path(sys.executable).with_name("check_iaso_life")
    if not probe.exists():
        raise SystemExit(f"{probe} not found: install the package first")
    import iaso_probes as probe_package
    import libiaso

    for package in (libiaso, probe_package):  # as a packaged install does, even where
        compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)  # bytecode is off
    sim = Simulator()
    url = sim.start("127.0.0.1", 0)
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "iaso.yaml"
        config.write_text(f"environments:\n  lab:\n    base_url: {url}\n    proxy: none\n")
        os.environ["IASO_PROBES_CACHE_DIR"] = str(Path(work) / "cache")
        bare = Path(work) / "bare.py"
        bare.write_text(BARE)
        commands: Dict[str, List[str]] = {
            "bare requests script": [sys.executable, str(bare), url],
            "check_iaso_life": [str(probe), "-C", str(config)],
        }
        for argv in commands.values():  # warm the page cache and .pyc files
            measure(argv)
        samples: Dict[str, List[Tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(measure(argv))
    sim.stop()
    medians = {name: tuple(statistics.median(s[i] for s in runs) for i in range(3))
               for name, runs in samples.items()}
    print(f"{args.runs} interleaved runs each, medians (machine: {os.cpu_count()} cores)")
    print(f"{'':24} {'wall ms':>9} {'cpu ms':>9} {'peak RSS MiB':>13}")
    for name, (wall, cpu, rss) in medians.items():
        print(f"{name:24} {wall * 1000:9.1f} {cpu * 1000:9.1f} {rss:13.1f}")
    base, ours = medians["bare requests script"], medians["check_iaso_life"]
    print(f"{'ratio':24} {ours[0] / base[0]:8.2f}x {ours[1] / base[1]:8.2f}x "
          f"{ours[2] / base[2]:12.2f}x   (target: at most 1.15x)")


if __name__ == "__main__":
    main()
