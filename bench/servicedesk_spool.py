"""200 notifications through the spool, the desk down then up: lost, duplicated, and the time
each costs, against a real Request Tracker 5 (the private instance of tests/rt_desk.py).

1. Desk down (RT stopped): N notifications (N/4 problems, each PROBLEM, ACKNOWLEDGEMENT,
   DOWNTIMESTART, RECOVERY, as Nagios numbers them) go through iaso-servicedesk-notify, one
   process each, as a core runs it. Each must exit 0 and leave its notification spooled.
2. Desk up: iaso-servicedesk-flush delivers; the first flush is killed (SIGKILL) after a third
   of the queue, the way a crash or a core's timeout would cut it, and a second flush finishes.
3. Counted in RT itself: a ticket per problem, resolved; on each ticket, each notification ID
   once and one transaction per notification (a retried notification made nothing twice).

Prints the run time of notify with the desk down (median, 95th percentile), the delivery time
per notification (the flushes' total divided by the count), lost and duplicated. The same
notifications delivered with the desk up at notify time are measured beside it.

    .venv/bin/python bench/servicedesk_spool.py [--notifications 200]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
BIN = Path(sys.executable).parent

KINDS = (("PROBLEM", "CRITICAL"), ("ACKNOWLEDGEMENT", "CRITICAL"),
         ("DOWNTIMESTART", "CRITICAL"), ("RECOVERY", "OK"))


def notifications(count: int, origin_offset: int) -> List[List[str]]:
    """Command lines for ``count`` notifications, four per problem, Nagios-numbered."""
    runs = []
    number = 0
    for problem in range(count // len(KINDS)):
        for kind, state in KINDS:
            number += 1
            runs.append(["--type", kind, "--host", "bench-host",
                         "--service", f"service {problem:03d}", "--state", state,
                         "--problem-id", str(origin_offset + problem + 1),
                         "--last-problem-id", "0", "--notification-id", str(number),
                         "--timet", str(1_700_000_000 + number), "--output",
                         f"{kind} of problem {problem}", "--author", "bench",
                         "--comment", "bench run"])
    return runs


def notify_all(config: Path, runs: List[List[str]]) -> Tuple[List[float], int]:
    times, failures = [], 0
    for arguments in runs:
        started = time.monotonic()
        done = subprocess.run([str(BIN / "iaso-servicedesk-notify"), "-C", str(config),
                               *arguments], capture_output=True, text=True, timeout=120)
        times.append(time.monotonic() - started)
        failures += done.returncode != 0
    return times, failures


def write_config(path: Path, origin: str, url: str, token: Path, spool: Path,
                 journal: Path) -> None:
    path.write_text(f"origin: {origin}\nspool: {spool}\njournal: {journal}\nsettle: 0\n"
                    f"desk:\n  kind: rt-rest\n  url: {url}\n  token_file: {token}\n")


def expected_ids(runs: List[List[str]], origin: str) -> Dict[str, List[str]]:
    """The notification IDs each service's ticket must hold."""
    expected: Dict[str, List[str]] = {}
    for arguments in runs:
        number = arguments[arguments.index("--notification-id") + 1]
        expected.setdefault(arguments[arguments.index("--service") + 1], []).append(
            f"{origin}:n{number}")
    return expected


def count_in_rt(rt: Any, origin: str, expected: Dict[str, List[str]]) -> Dict[str, int]:
    tickets = [t for t in rt.tickets() if t["key"].startswith(origin + ":")]
    recorded = Counter(n.split("@")[0] for t in tickets for n in t["notifications"])
    wanted = {n for ids in expected.values() for n in ids}
    lost = len(wanted - set(recorded))
    duplicated = sum(c - 1 for c in recorded.values() if c > 1)
    transactions = 0
    for ticket in tickets:
        texts = rt.texts(ticket["id"])
        transactions += len(texts)
        duplicated += max(0, len(texts) - len(ticket["notifications"]))
    by_key = Counter(t["key"] for t in tickets)
    return {"tickets": len(tickets), "tickets per problem max": max(by_key.values() or [0]),
            "unresolved": sum(t["status"] != "resolved" for t in tickets),
            "lost": lost, "duplicated": duplicated, "transactions": transactions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=200)
    args = parser.parse_args()
    from rt_desk import RequestTracker

    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        (work / "rt").mkdir()
        rt = RequestTracker(work / "rt")
        rt.setup()
        rt.start()
        try:
            # Beside it: the desk up at notify time (no spool wait).
            up = work / "up.yaml"
            write_config(up, "bench-up", rt.url, rt.token_file, work / "spool-up",
                         work / "journal-up.log")
            runs_up = notifications(args.notifications, 0)
            started = time.monotonic()
            times_up, failed_up = notify_all(up, runs_up)
            total_up = time.monotonic() - started

            down = work / "down.yaml"
            write_config(down, "bench-down", rt.url, rt.token_file, work / "spool-down",
                         work / "journal-down.log")
            runs = notifications(args.notifications, 0)
            rt.stop()
            times_down, failed_down = notify_all(down, runs)
            spooled = len(list((work / "spool-down" / "queue").glob("*.json")))
            rt.start()
            flush = [str(BIN / "iaso-servicedesk-flush"), "-C", str(down), "-t", "600"]
            started = time.monotonic()
            first = subprocess.Popen(flush, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
            while len(list((work / "spool-down" / "queue").glob("*.json"))) > spooled * 2 // 3:
                time.sleep(0.05)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            second = subprocess.run(flush, capture_output=True, text=True, timeout=1200)
            total_flush = time.monotonic() - started
            left = len(list((work / "spool-down" / "queue").glob("*.json")))

            counted = count_in_rt(rt, "bench-down", expected_ids(runs, "bench-down"))
            counted_up = count_in_rt(rt, "bench-up", expected_ids(runs_up, "bench-up"))
        finally:
            rt.stop()

    def q(values: List[float], fraction: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    n = args.notifications
    print(f"notifications: {n} ({n // 4} problems x PROBLEM, ACKNOWLEDGEMENT, DOWNTIMESTART, "
          f"RECOVERY)")
    print(f"{'':34} {'desk down, then flush':>24} {'desk up at notify':>20}")
    print(f"{'notify run, median':34} {statistics.median(times_down):>22.3f} s "
          f"{statistics.median(times_up):>18.3f} s")
    print(f"{'notify run, 95th percentile':34} {q(times_down, 0.95):>22.3f} s "
          f"{q(times_up, 0.95):>18.3f} s")
    print(f"{'notify runs that failed':34} {failed_down:>24} {failed_up:>20}")
    print(f"{'spooled while the desk was down':34} {spooled:>24} {'-':>20}")
    print(f"{'delivery per notification':34} {total_flush / n:>22.3f} s "
          f"{(total_up / n):>18.3f} s  (flush total / n; notify total / n)")
    print(f"{'flush: total, first one killed':34} {total_flush:>22.1f} s")
    print(f"{'left in the spool':34} {left:>24}")
    for name in ("tickets", "tickets per problem max", "unresolved", "lost", "duplicated",
                 "transactions"):
        print(f"{name:34} {counted[name]:>24} {counted_up[name]:>20}")
    print(f"second flush said: {second.stdout.strip()}")


if __name__ == "__main__":
    main()
