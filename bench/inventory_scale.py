"""The simulator's VM listings at fleet scale: bytes, seconds and the simulator's own memory.

For each size (50,000 and 100,000 VMs by default) and each contract, a fresh ``iaso-simulator``
process serves the whole fleet: Commvault's ``GET /V4/VirtualMachines`` in one answer, our
``GET /vms`` page by page (1,000 VMs a page). The client reads and discards the bytes. Printed:
answer bytes, requests, median wall seconds over the runs, the simulator's CPU seconds and its
peak RSS (VmHWM), and side by side the same fleet built the obvious way (every VM as a dict,
then ``json.dumps`` of the whole document) in a fresh process: its seconds and peak RSS.

    .venv/bin/python bench/inventory_scale.py [--sizes 50000 100000] [--runs 3]
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import requests

ROOT = Path(__file__).resolve().parent.parent
PAGE = 1000
PASSWORD = "bench-password"

WHOLE_DOCUMENT = """
import json, resource, sys, time
from libiaso.simulator.commvault import vm_summary
from libiaso.simulator.iaso import vm_item
from libiaso.simulator.inventory import Fleet
from libiaso.simulator.scenario import inventory_from
size, contract = int(sys.argv[1]), sys.argv[2]
fleet = Fleet(inventory_from({"size": size, "start": 1700000000}))
started, cpu = time.perf_counter(), time.process_time()
shape = vm_summary if contract == "commvault" else vm_item
vms = [shape(fleet.vm(i, 1700003600.0)) for i in range(size)]
key = "virtualMachines" if contract == "commvault" else "vms"
text = json.dumps({key: vms, "total": size}, separators=(",", ":")).encode()
print(len(text), time.perf_counter() - started, time.process_time() - cpu,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def proc_status(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator(contract: str, size: int, work: Path) -> Tuple[subprocess.Popen, str]:
    scenario = work / f"{contract}-{size}.yaml"
    scenario.write_text(f"credentials: {{username: bench, password: {PASSWORD}}}\n"
                        f"inventory: {{size: {size}, start: 1700000000}}\n", encoding="utf-8")
    url_file = work / f"{contract}-{size}.url"
    process = subprocess.Popen(
        [sys.executable, "-m", "libiaso.simulator", "--contract", contract, "--port", "0",
         "--port-file", str(url_file), "--scenario", str(scenario)],
        cwd=str(ROOT), stdout=subprocess.DEVNULL)
    for _ in range(200):
        if url_file.exists() and url_file.read_text().strip():
            return process, url_file.read_text().strip()
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the simulator did not start")


def fetch(contract: str, url: str, session: requests.Session) -> Tuple[int, int]:
    """Read the whole fleet once; bytes received and requests made."""
    if contract == "commvault":
        password = base64.b64encode(PASSWORD.encode()).decode()
        token = session.post(url + "/Login", json={"username": "bench", "password": password},
                             timeout=30).json()["token"]
        answer = session.get(url + "/V4/VirtualMachines", headers={"Authtoken": token},
                             stream=True, timeout=300)
        return sum(len(piece) for piece in answer.iter_content(1 << 16)), 2
    token = session.post(url + "/login", json={"username": "bench", "password": PASSWORD},
                         timeout=30).json()["token"]
    headers = {"Authorization": "Bearer " + token}
    received, requests_made, offset = 0, 1, 0
    while True:
        answer = session.get(url + "/vms", params={"offset": offset, "limit": PAGE},
                             headers=headers, timeout=300)
        requests_made += 1
        received += len(answer.content)
        if answer.content.count(b'"name":') < PAGE:
            return received, requests_made
        offset += PAGE


def streamed(contract: str, size: int, runs: int, work: Path) -> Dict[str, float]:
    process, url = start_simulator(contract, size, work)
    try:
        session = requests.Session()
        baseline = proc_status(process.pid, "VmRSS")
        walls: List[float] = []
        cpu_before = cpu_seconds(process.pid)
        for _ in range(runs):
            started = time.perf_counter()
            received, made = fetch(contract, url, session)
            walls.append(time.perf_counter() - started)
        return {"bytes": received, "requests": made, "wall": statistics.median(walls),
                "cpu": (cpu_seconds(process.pid) - cpu_before) / runs, "idle_rss": baseline,
                "peak_rss": proc_status(process.pid, "VmHWM")}
    finally:
        process.terminate()
        process.wait(timeout=10)


def whole_document(contract: str, size: int) -> Dict[str, float]:
    done = subprocess.run([sys.executable, "-c", WHOLE_DOCUMENT, str(size), contract],
                          capture_output=True, text=True, cwd=str(ROOT), check=True)
    size_bytes, wall, cpu, rss = done.stdout.split()
    return {"bytes": float(size_bytes), "wall": float(wall), "cpu": float(cpu),
            "peak_rss": float(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'contract':<10} {'VMs':>7} {'MB':>7} {'req':>4} {'wall s':>7} {'sim CPU s':>9} "
          f"{'sim RSS idle/peak MiB':>22} | {'whole-document s':>16} {'peak MiB':>9} "
          f"{'RSS ratio':>9}")
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes:
            for contract in ("commvault", "iaso"):
                ours = streamed(contract, size, args.runs, Path(work))
                other = whole_document(contract, size)
                print(f"{contract:<10} {size:>7} {ours['bytes'] / 1e6:>7.1f} "
                      f"{ours['requests']:>4.0f} {ours['wall']:>7.2f} {ours['cpu']:>9.2f} "
                      f"{ours['idle_rss']:>10.1f} / {ours['peak_rss']:>9.1f} | "
                      f"{other['wall']:>16.2f} {other['peak_rss']:>9.1f} "
                      f"{other['peak_rss'] / ours['peak_rss']:>8.1f}x")


if __name__ == "__main__":
    main()
