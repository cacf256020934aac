"""The fleet check at 10,000 to 100,000 VMs, end to end, next to one active check per VM.

The simulator runs in its own process with a seeded inventory; ``check_iaso_fleet`` runs as a
core would run it (the installed console script, a fresh process each time), lists the fleet,
judges every VM and writes the group results and one result per VM (every VM a host: the worst
case) into a check-results spool. For each size it prints the requests sent, wall time, CPU
seconds and peak RSS of the collector process; at 50,000 also the Commvault contract (one
unpaged, streamed answer) and the incremental run that follows a full one (a 15-minute
interval). Beside it, in the same run, the alternative: one ``check_iaso_life`` process per VM,
its median cost measured here and multiplied.

Then a real Nagios 4 (Debian's nagios4) with 50,000 VM hosts and their passive services (the
shipped templates of etc/nagios/fleet.cfg) takes the 50,000 results through its spool: config
check, start, the time until every service shows its result, and the core's RSS.

Targets: under 10 CPU seconds and 300 MiB for 50,000 VMs, cost growing linearly.

    .venv/bin/python bench/fleet_scale.py [--sizes 10000,50000,100000] [--repeat 3]
                                         [--probe-runs 20] [--no-core]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "bench-password"
SHARES = "failed: 0.05, stale: 0.03, never: 0.01, excluded: 0.02"


class Cost(NamedTuple):
    wall: float
    cpu: float
    rss: float       # MiB
    output: str


def child(argv: List[str], env: Optional[Dict[str, str]] = None) -> Cost:
    """Wall, CPU (user + system) and peak RSS of one child process, and its first line.

    Spawned, not forked: a forked child's peak RSS would start from this (large) process's."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env if env is not None else dict(os.environ),
                             file_actions=[(os.POSIX_SPAWN_DUP2, output.fileno(), 1),
                                           (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY,
                                            0)])
        _, _, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return Cost(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                text.split("\n", 1)[0])


class SimulatorProcess:
    def __init__(self, work: Path, contract: str) -> None:
        port_file = work / f"sim-{contract}.url"
        scenario = work / "scenario.yaml"
        scenario.write_text(f"credentials: {{username: nagios, password: {PASSWORD}}}\n")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "libiaso.simulator", "--port", "0", "--contract", contract,
             "--scenario", str(scenario), "--port-file", str(port_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
        for _ in range(100):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        self.url = port_file.read_text().strip()
        self.admin = self.url.split("/api/v1")[0].split("/webconsole")[0] + "/_admin"

    def inventory(self, size: int) -> None:
        body = (f"credentials: {{username: nagios, password: {PASSWORD}}}\n"
                f"inventory: {{size: {size}, groups: 40, {SHARES}}}\n").encode()
        request = urllib.request.Request(self.admin + "/scenario", data=body, method="PUT")
        urllib.request.urlopen(request, timeout=10).read()

    def counters(self) -> Dict[str, int]:
        import json

        with urllib.request.urlopen(self.admin + "/counters", timeout=10) as answer:
            return dict(json.loads(answer.read()).get("counters", {}))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def configure(work: Path, url: str, contract: str, spool: Path, hosts: Optional[Path],
              objects_cache: Optional[Path] = None, state: str = "state") -> Path:
    password = work / "password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)
    per_vm = ""
    if hosts is not None:
        per_vm = f", per_vm: {{hosts_file: {hosts}}}"
    elif objects_cache is not None:   # and every VM result sent at every run
        per_vm = f", per_vm: {{objects_cache: {objects_cache}, refresh_minutes: 0}}"
    config = work / f"iaso-{contract}-{state}.yaml"
    config.write_text(
        "environments:\n  lab:\n"
        f"    base_url: {url}\n    proxy: none\n"
        f"    credentials: {{username: nagios, password_file: {password}}}\n"
        f"    profile: {{version: 2, base: {contract}}}\n"
        f"    fleet: {{state_dir: {work / state}, max_listing_bytes: 1073741824,\n"
        f"            delivery: {{route: spool, spool_dir: {spool}{per_vm}}}}}\n")
    return config


def collector(config: Path, *extra: str) -> Cost:
    env = dict(os.environ, IASO_PROBES_CACHE_DIR="off")
    return child([str(BIN / "check_iaso_fleet"), "-C", str(config), "-t", "300", *extra], env)


def requests_of(cost: Cost) -> int:
    found = re.search(r"requests=(\d+)", cost.output)
    return int(found.group(1)) if found else -1


def received_of(cost: Cost) -> float:
    found = re.search(r"received=(\d+)B", cost.output)
    return int(found.group(1)) / 1e6 if found else -1.0


def empty(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def vm_names(size: int) -> str:
    return "".join(f"vm-{n:06d}\n" for n in range(size))


def probe_cost(url: str, work: Path, runs: int) -> Cost:
    """The median cost of one check_iaso_life process (the alternative's unit)."""
    config = work / "life.yaml"
    config.write_text(f"environments:\n  lab:\n    base_url: {url}\n    proxy: none\n")
    env = dict(os.environ, IASO_PROBES_CACHE_DIR=str(work / "cache"))
    argv = [str(BIN / "check_iaso_life"), "-C", str(config)]
    child(argv, env)   # warm the page cache and the parsed-configuration cache
    samples = [child(argv, env) for _ in range(runs)]
    return Cost(statistics.median(s.wall for s in samples),
                statistics.median(s.cpu for s in samples),
                statistics.median(s.rss for s in samples), samples[-1].output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--probe-runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (medians)")
    parser.add_argument("--no-core", action="store_true", help="skip the Nagios 4 part")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for name in ("check_iaso_fleet", "check_iaso_life"):
        if not (BIN / name).exists():
            raise SystemExit(f"{BIN / name} not found: install the package first")
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as temporary:
        work = Path(temporary)
        iaso = SimulatorProcess(work, "iaso")
        commvault = SimulatorProcess(work, "commvault")
        try:
            rows = run_sizes(work, iaso, commvault, sizes, args.repeat)
            unit = probe_cost(iaso.url, work, args.probe_runs)
            report(rows, unit)
            if not args.no_core and Path("/usr/sbin/nagios4").exists():
                core_run(work, iaso, 50000)
        finally:
            iaso.stop()
            commvault.stop()


def run_sizes(work: Path, iaso: SimulatorProcess, commvault: SimulatorProcess,
              sizes: List[int], repeat: int) -> List[Any]:
    """Per size, ``repeat`` rounds (each from an empty snapshot), the median of each run."""
    rows = []
    spool = work / "spool"
    for size in sizes:
        hosts = work / f"hosts-{size}"
        hosts.write_text(vm_names(size))
        runs: Dict[str, List[Cost]] = {}
        spooled: Dict[str, int] = {}

        def measure(label: str, config: Path, runs: Dict[str, List[Cost]] = runs,
                    spooled: Dict[str, int] = spooled) -> None:
            empty(spool)
            cost = collector(config)
            if "VMs" not in cost.output:
                raise SystemExit(f"collector failed ({label}): {cost.output}")
            runs.setdefault(label, []).append(cost)
            spooled[label] = spool_size(spool)

        for _ in range(repeat):
            for state in ("state-iaso", "state-cv"):
                shutil.rmtree(work / state, ignore_errors=True)
            iaso.inventory(size)
            config = configure(work, iaso.url, "iaso", spool, hosts, state="state-iaso")
            measure(f"{size:,} VMs, iaso, full", config)
            if size == 50000:
                measure(f"{size:,} VMs, iaso, incremental", config)
                commvault.inventory(size)
                measure(f"{size:,} VMs, commvault (1 answer)",
                        configure(work, commvault.url, "commvault", spool, hosts,
                                  state="state-cv"))
        for label, costs in runs.items():
            cost = Cost(statistics.median(c.wall for c in costs),
                        statistics.median(c.cpu for c in costs),
                        statistics.median(c.rss for c in costs), costs[-1].output)
            rows.append((label, size, cost, requests_of(cost), spooled[label]))
    return rows


def spool_size(spool: Path) -> int:
    return sum(p.stat().st_size for p in spool.iterdir())


def report(rows: List[Any], unit: Cost) -> None:
    print(f"Fleet check, medians of the rounds (machine: {os.cpu_count()} cores); every VM is "
          "also a host given its own result")
    print(f"{'':38} {'requests':>9} {'listing MB':>11} {'wall s':>8} {'CPU s':>7} "
          f"{'peak RSS MiB':>13} {'CPU us/VM':>10} {'spool MB':>9}")
    for label, size, cost, requests, spooled in rows:
        print(f"{label:38} {requests:9d} {received_of(cost):11.1f} {cost.wall:8.2f} "
              f"{cost.cpu:7.2f} {cost.rss:13.1f} {cost.cpu / size * 1e6:10.1f} "
              f"{spooled / 1e6:9.1f}")
        print(f"{'':38} {cost.output[:110]}")
    print()
    print(f"One active check per VM instead: check_iaso_life, median of its runs here: "
          f"{unit.wall * 1000:.1f} ms wall, {unit.cpu * 1000:.1f} ms CPU, {unit.rss:.1f} MiB")
    full = {size: cost for label, size, cost, _, _ in rows if label.endswith("iaso, full")}
    print(f"{'':38} {'collector CPU s':>16} {'per-VM checks CPU s':>20} {'ratio':>8}")
    for size, cost in sorted(full.items()):
        alternative = unit.cpu * size
        ratio = alternative / cost.cpu
        print(f"{size:>32,} VMs  {cost.cpu:16.2f} {alternative:20.0f} {ratio:7.0f}x")
    sizes = sorted(full)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        growth = (full[large].cpu / full[small].cpu) / (large / small)
        print(f"CPU growth {small:,} -> {large:,} VMs: {full[large].cpu / full[small].cpu:.2f}x "
              f"for {large / small:.0f}x the VMs (1.00 = linear: {growth:.2f})")
    print()


def results_shown(status: Path) -> int:
    """Services of status.dat with a result (hosts and the other services have none here).

    Counted by grep, not here: a child's peak RSS counts its parent's as it was when spawned
    (the kernel keeps the larger), so this process stays small."""
    found = subprocess.run(["grep", "-c", "has_been_checked=1", str(status)],
                           capture_output=True, text=True)
    return int(found.stdout.strip() or 0)


def core_run(work: Path, iaso: SimulatorProcess, size: int) -> None:
    """50,000 VM hosts with their passive service in a real Nagios 4, fed through its spool."""
    sys.path.insert(0, str(ROOT / "tests"))
    from nagios_core import BINARY, NagiosCore

    iaso.inventory(size)
    objects = work / "vm-hosts.cfg"
    with open(objects, "w") as handle:
        for n in range(size):
            handle.write(f"define host {{\n  use iaso-fleet-host\n  host_name vm-{n:06d}\n}}\n"
                         "define service {\n  use iaso-fleet-vm-service\n"
                         f"  host_name vm-{n:06d}\n"
                         "  service_description IASO backup freshness\n}\n")
        for group in range(1, 41):
            handle.write("define service {\n  use iaso-fleet-group-service\n"
                         "  host_name iaso-fleet-lab\n"
                         f"  service_description IASO fleet vmgroup-{group:02d}\n}}\n")
    core_dir = work / "core"
    var = core_dir / "var"
    config = configure(work, iaso.url, "iaso", var / "spool", None, var / "objects.cache",
                       state="state-core")
    core = NagiosCore(core_dir, BIN, config,
                      extra_objects=[ROOT / "etc" / "nagios" / "fleet.cfg", objects],
                      settings=["execute_service_checks=0", "execute_host_checks=0",
                                "status_update_interval=5", "check_result_reaper_frequency=1",
                                "max_check_result_reaper_time=120"])
    started = time.perf_counter()
    verified = core.verify()
    verify_time = time.perf_counter() - started
    if "Total Errors:   0" not in verified.stdout:
        raise SystemExit(verified.stdout[-2000:])
    started = time.perf_counter()
    core.start()
    try:
        ready = time.monotonic() + 180   # objects read, cache and first status written
        while not ((var / "objects.cache").exists() and (var / "status.dat").exists()):
            if time.monotonic() > ready:
                raise SystemExit("nagios4 did not come up: " + core.log()[-2000:])
            time.sleep(0.05)
        start_time = time.perf_counter() - started
        runs = []
        for _ in range(2):   # the first results change every state; the second, none
            cost = collector(config)
            handed = time.perf_counter()
            while any(p.name.startswith("c") for p in (var / "spool").iterdir()):
                time.sleep(0.05)
            reaped = time.perf_counter() - handed
            deadline = time.monotonic() + 180
            checked = 0
            while time.monotonic() < deadline:
                checked = results_shown(var / "status.dat") - 40   # less the 40 groups
                if checked >= size:
                    break
                time.sleep(0.2)
            runs.append((cost, reaped, checked, time.perf_counter() - handed))
        rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{core.pid}/status").read_text()
                            ).group(1)) / 1024   # type: ignore[union-attr]
    finally:
        core.stop()
    print(f"Nagios 4 ({BINARY}) with {size:,} VM hosts, {size:,} passive VM services and 40 "
          "group services:")
    print(f"  config check {verify_time:.2f} s, start (objects.cache and status.dat written) "
          f"{start_time:.2f} s, core RSS {rss:.0f} MiB after the results")
    for number, (cost, reaped, checked, shown) in enumerate(runs, 1):
        print(f"  run {number}: collector {cost.wall:.2f} s wall, {cost.cpu:.2f} s CPU, "
              f"{cost.rss:.1f} MiB (its hosts read from the core's objects.cache); spool file "
              f"reaped {reaped:.2f} s after it ended; {checked:,} of {size:,} VM services show "
              f"a result in status.dat {shown:.1f} s after")
    print(f"  collector said: {runs[-1][0].output[:150]}")


if __name__ == "__main__":
    main()
