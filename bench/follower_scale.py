"""Following 1,000 concurrent jobs: the job follower next to a naive one, in one run.

Starts the simulator in its own process, launches N backups whose jobs each last D seconds, and
follows them twice, each time in a fresh process: with libiaso's JobFollower (a fixed pool of
connections, one poll per job per interval) and with a naive follower (one thread and one
connection per job, polling at the same interval). Prints, for each: status requests sent per
job against the minimum the interval needs, peak concurrent connections seen by the server,
the lag between the last job's end and the follower noticing it, and peak RSS.

Targets for the JobFollower: requests within 1.2x the minimum, peak connections at most the pool
size, the end noticed within one poll interval, peak RSS under 100 MiB.

    .venv/bin/python bench/follower_scale.py [--jobs 1000] [--duration 9] [--interval 2]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

PASSWORD = "bench-password"


def admin(url: str, path: str, data: bytes = b"", method: str = "GET") -> Any:
    base = url.rsplit("/api/v1", 1)[0]
    request = urllib.request.Request(base + "/_admin" + path, data=data or None, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def follow_with_library(url: str, work: Path, args: argparse.Namespace) -> Dict[str, Any]:
    from libiaso.api.client import IasoClient
    from libiaso.config.settings import load_config
    from libiaso.deadline import Deadline
    from libiaso.jobs.calls import start_backup
    from libiaso.jobs.follower import JobFollower
    from libiaso.jobs.outcomes import OutcomeTable
    from libiaso.jobs.track import JobTrack

    config = work / "iaso.yaml"
    config.write_text(f"environments:\n  lab:\n    base_url: {url}\n    proxy: none\n"
                      f"    credentials: {{username: nagios, password_file: {work}/pw}}\n"
                      f"    jobs: {{pool_size: {args.pool}}}\n")
    deadline = Deadline(args.duration * 10 + 120)
    client = IasoClient(load_config(str(config)).environment(None), deadline)
    tracks = [JobTrack(f"vm-{i}", f"vm-{i}", start_backup(client, f"vm-{i}", "full"),
                       time.time()) for i in range(args.jobs)]
    follower = JobFollower(client, OutcomeTable(), deadline, pool_size=args.pool,
                           interval=args.interval, max_interval=args.interval * 4)
    follower.follow(tracks)
    ends = [(t.launched_at + args.duration, t.ended_at) for t in tracks]
    return {"requests": follower.requests, "ended": sum(1 for t in tracks if t.ended_at),
            "ends": ends, "in_flight": follower.peak_in_flight}


def follow_naively(url: str, work: Path, args: argparse.Namespace) -> Dict[str, Any]:
    import requests

    token = requests.post(url + "/login", json={"username": "nagios", "password": PASSWORD},
                          timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    ends: List[Any] = [None] * args.jobs
    counts = [0] * args.jobs
    errors = [0] * args.jobs

    def follow_one(index: int, host: str, job_id: Any, launched_at: float) -> None:
        session = requests.Session()
        while True:
            time.sleep(args.interval)
            counts[index] += 1
            try:
                status = session.post(url + "/jobs/status", headers=headers, timeout=30,
                                      json={"jobId": job_id, "hostname": host}).json()
            except (requests.RequestException, ValueError):
                errors[index] += 1
                continue
            if status.get("status") == "Completed":
                ends[index] = (launched_at + args.duration, time.time())
                return

    launcher = requests.Session()
    threads = []
    for i in range(args.jobs):  # each job followed by its own thread from its launch on
        answer = launcher.post(url + "/backups", json={"hostname": f"vm-{i}",
                                                      "backupLevel": "full"},
                               headers=headers, timeout=10).json()
        threads.append(threading.Thread(target=follow_one,
                                        args=(i, f"vm-{i}", answer["jobId"], time.time())))
        threads[-1].start()
    for thread in threads:
        thread.join()
    return {"requests": sum(counts), "ended": sum(1 for e in ends if e), "ends": ends,
            "in_flight": args.jobs, "errors": sum(errors)}


def child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    method = follow_with_library if args.mode == "follower" else follow_naively
    figures = method(args.url, work, args)
    figures["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=9.0, help="seconds a job lasts")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval, seconds")
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--mode", choices=("follower", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args)
        return
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "pw").write_text(PASSWORD + "\n")
        (Path(work) / "scenario.yaml").write_text(
            f"credentials: {{username: nagios, password: {PASSWORD}}}\n"
            f"job_speed: 10\njob_duration: {args.duration * 10}\n")
        server = subprocess.Popen([sys.executable, "-m", "libiaso.simulator", "--port", "0",
                                   "--port-file", f"{work}/url", "--scenario",
                                   f"{work}/scenario.yaml"], stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if (Path(work) / "url").exists() and (Path(work) / "url").read_text():
                    break
                time.sleep(0.1)
            url = (Path(work) / "url").read_text().strip()
            minimum = args.jobs * math.ceil(args.duration / args.interval)
            print(f"{args.jobs} jobs of {args.duration:g} s, polled every {args.interval:g} s "
                  f"(minimum {minimum / args.jobs:g} status requests a job); "
                  f"pool {args.pool}; {os.cpu_count()} cores")
            print(f"{'':12} {'req/job':>8} {'vs min':>7} {'peak conn':>10} {'end lag s':>10} "
                  f"{'peak RSS MiB':>13} {'wall s':>7}")
            for mode in ("follower", "naive"):
                admin(url, "/reset", method="POST")
                started = time.monotonic()
                done = subprocess.run([sys.executable, __file__, "--mode", mode, "--url", url,
                                       "--work", work, "--jobs", str(args.jobs),
                                       "--duration", str(args.duration), "--interval",
                                       str(args.interval), "--pool", str(args.pool)],
                                      capture_output=True, text=True, check=True)
                wall = time.monotonic() - started
                figures = json.loads(done.stdout)
                peak = admin(url, "/counters")["peak_connections"]
                ends = [e for e in figures["ends"] if e and e[1]]
                last_end, noticed = max(ends, key=lambda e: e[0])
                name = "JobFollower" if mode == "follower" else "naive"
                print(f"{name:12} {figures['requests'] / args.jobs:8.2f} "
                      f"{figures['requests'] / minimum:6.2f}x {peak:10d} "
                      f"{noticed - last_end:10.2f} {figures['rss_mib']:13.1f} {wall:7.1f}"
                      + ("" if figures["ended"] == args.jobs
                         else f"   ({args.jobs - figures['ended']} jobs not seen ending)")
                      + (f"   ({figures['errors']} failed polls)" if figures.get("errors")
                         else ""))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
