"""The simulator's VM inventory: what docs/simulator.md promises of the fleet and its faults.

Expectations come from the documented definitions (a share is an exact count; stale means no
success for ``stale_hours``; backups recur every ``backup_interval_hours``; ``since`` keeps the
VMs whose last backup is at or after it), read back through both contracts' listings.
"""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
import yaml
from conftest import PASSWORD, ROOT, USERNAME

from libiaso.simulator.scenario import ScenarioError, scenario_from
from libiaso.simulator.server import Simulator

START = 1_700_000_000
HOUR = 3600
NOW = START + 6 * HOUR
SHARES = {"failed": 0.05, "stale": 0.04, "never": 0.03, "excluded": 0.02}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def simulator(contract: str, inventory: Dict[str, Any], clock: Clock) -> Simulator:
    data = {"credentials": {"username": USERNAME, "password": PASSWORD},
            "inventory": {"start": START, **inventory}}
    return Simulator(scenario_from(data), contract=contract, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def iaso(clock: Clock) -> Iterator[Simulator]:
    sim = simulator("iaso", {"size": 1000, **SHARES}, clock)
    sim.start("127.0.0.1", 0)
    yield sim
    sim.stop()


@pytest.fixture
def commvault(clock: Clock) -> Iterator[Simulator]:
    sim = simulator("commvault", {"size": 1000, **SHARES}, clock)
    sim.start("127.0.0.1", 0)
    yield sim
    sim.stop()


def iaso_headers(sim: Simulator) -> Dict[str, str]:
    token = requests.post(sim.url + "/login", json={"username": USERNAME, "password": PASSWORD},
                          timeout=5).json()["token"]
    return {"Authorization": "Bearer " + token}


def commvault_headers(sim: Simulator) -> Dict[str, str]:
    password = base64.b64encode(PASSWORD.encode("utf-8")).decode("ascii")
    token = requests.post(sim.url + "/Login", json={"username": USERNAME, "password": password},
                          timeout=5).json()["token"]
    return {"Authtoken": token}


def page(sim: Simulator, headers: Dict[str, str], offset: int, limit: int,
         since: Optional[float] = None) -> Dict[str, Any]:
    query: Dict[str, Any] = {"offset": offset, "limit": limit}
    if since is not None:
        query["since"] = since
    answer = requests.get(sim.url + "/vms", params=query, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    document: Dict[str, Any] = answer.json()
    return document


def everything(sim: Simulator, headers: Dict[str, str], limit: int = 250,
               since: Optional[float] = None) -> List[Dict[str, Any]]:
    vms: List[Dict[str, Any]] = []
    while True:
        batch = page(sim, headers, len(vms), limit, since)["vms"]
        vms += batch
        if len(batch) < limit:
            return vms


def test_ok_same_scenario_same_fleet_byte_for_byte(clock: Clock) -> None:
    answers = []
    for seed in (7, 7, 8):
        sim = simulator("commvault", {"size": 300, "seed": seed}, clock)
        sim.start("127.0.0.1", 0)
        try:
            answers.append(requests.get(sim.url + "/V4/VirtualMachines", timeout=10,
                                        headers=commvault_headers(sim)).content)
        finally:
            sim.stop()
    assert answers[0] == answers[1] and answers[0] != answers[2]


def test_ok_shares_are_exact_counts_with_their_meaning(iaso: Simulator) -> None:
    vms = everything(iaso, iaso_headers(iaso))
    assert len(vms) == 1000 and len({vm["id"] for vm in vms}) == 1000
    never = [vm for vm in vms if vm["lastBackup"]["time"] is None]
    excluded = [vm for vm in vms if vm["protection"] == "excluded"]
    failed = [vm for vm in vms if vm["lastBackup"]["failureReason"]]
    backed = [vm for vm in vms if vm["lastBackup"]["time"] is not None
              and vm["protection"] == "protected" and not vm["lastBackup"]["failureReason"]]
    stale = [vm for vm in backed if NOW - vm["lastBackup"]["lastSuccessTime"] > 48 * HOUR]
    fresh = [vm for vm in backed if NOW - vm["lastBackup"]["lastSuccessTime"] <= 24 * HOUR]
    assert (len(failed), len(stale), len(never), len(excluded)) == (50, 40, 30, 20)
    assert len(fresh) == 1000 - 50 - 40 - 30 - 20
    assert all(vm["lastBackup"]["status"] in ("Failed", "Killed", "Failed to Start")
               and vm["lastBackup"]["time"] > vm["lastBackup"]["lastSuccessTime"]
               for vm in failed)
    assert all(vm["lastBackup"] == {"time": None, "lastSuccessTime": None, "status": None,
                                    "failureReason": None} for vm in never)
    assert all(NOW - vm["lastBackup"]["lastSuccessTime"] > 24 * HOUR for vm in excluded)
    times = [vm["lastBackup"][key] for vm in vms for key in ("time", "lastSuccessTime")
             if vm["lastBackup"][key] is not None]
    assert all(isinstance(t, int) and START - 40 * 24 * HOUR < t <= NOW for t in times)
    assert {vm["group"] for vm in vms} == {f"vmgroup-{n:02d}" for n in range(1, 9)}
    assert {vm["plan"] for vm in vms} == {"plan-01", "plan-02", "plan-03"}
    assert {vm["company"] for vm in vms} == {"tenant-01", "tenant-02"}


def test_ok_commvault_words_for_the_same_fleet(commvault: Simulator, iaso: Simulator) -> None:
    listing = requests.get(commvault.url + "/V4/VirtualMachines", timeout=10,
                           headers=commvault_headers(commvault)).json()
    ours = {vm["name"]: vm for vm in everything(iaso, iaso_headers(iaso))}
    assert listing["virtualMachinesCount"] == len(listing["virtualMachines"]) == 1000
    counted: Dict[str, int] = {}
    for vm in listing["virtualMachines"]:
        same = ours[vm["name"]]
        assert vm["UUID"] == same["id"] and vm["vmGroup"]["name"] == same["group"]
        last = vm["lastBackup"]
        assert last.get("time") == same["lastBackup"]["time"]
        assert last.get("lastSuccessfulBackupTime") == same["lastBackup"]["lastSuccessTime"]
        key = f"{vm['status']}/{vm['SLA']['status']}/{last['status']}"
        counted[key] = counted.get(key, 0) + 1
    assert counted["PENDING/YET_TO_BE_PROTECTED/NEVER_BACKED_UP"] == 30
    assert counted["NOT_PROTECTED/EXCLUDED_SLA/COMPLETED"] == 20
    assert counted["PROTECTED/MISSED_SLA/COMPLETED"] == 40
    assert sum(n for key, n in counted.items() if key.startswith("BACKED_UP_WITH_ERROR/")) == 50
    assert counted["PROTECTED/MET_SLA/COMPLETED"] == 860


def test_ok_time_passes_and_since_keeps_what_changed(iaso: Simulator, clock: Clock) -> None:
    headers = iaso_headers(iaso)
    before = {vm["name"]: vm for vm in everything(iaso, headers)}
    clock.now += 900
    after = {vm["name"]: vm for vm in everything(iaso, headers)}
    moved = {name for name in after
             if after[name]["lastBackup"]["time"] != before[name]["lastBackup"]["time"]}
    changed = everything(iaso, headers, since=NOW)
    assert {vm["name"] for vm in changed} == {
        name for name, vm in after.items()
        if vm["lastBackup"]["time"] is not None and vm["lastBackup"]["time"] >= NOW}
    assert moved <= {vm["name"] for vm in changed} and moved
    for name in moved:   # a planned backup ran in those 15 minutes: one interval later
        assert after[name]["lastBackup"]["time"] - before[name]["lastBackup"]["time"] == 24 * HOUR
    # A fleet of 1,000 backed up once a day changes by about 10 VMs in 15 minutes.
    assert 2 <= len(changed) <= 30
    assert page(iaso, headers, 0, 1000, since=NOW)["total"] == len(changed)


def test_ok_paging_faults_do_what_they_say(clock: Clock) -> None:
    results = {}
    for name, faults in (("healthy", {}), ("overlap", {"overlap": 3}),
                         ("repeat", {"repeat_pages": [2]}), ("drift", {"total_drift": 7}),
                         ("duplicates", {"duplicates": 2})):
        sim = simulator("iaso", {"size": 30, "faults": faults}, clock)
        sim.start("127.0.0.1", 0)
        try:
            headers = iaso_headers(sim)
            results[name] = [page(sim, headers, offset, 10) for offset in (0, 10, 20, 30)]
        finally:
            sim.stop()

    def names(pages: List[Dict[str, Any]]) -> List[List[str]]:
        return [[vm["name"] for vm in p["vms"]] for p in pages]

    healthy = names(results["healthy"])
    assert [p["total"] for p in results["healthy"]] == [30, 30, 30, 30]
    assert names(results["overlap"])[1] == healthy[0][-3:] + healthy[1][:7]
    assert names(results["repeat"])[1] == healthy[0]
    assert names(results["repeat"])[2] == healthy[2]
    assert [p["total"] for p in results["drift"]] == [30, 37, 44, 51]
    doubled = [n for p in names(results["duplicates"]) for n in p]
    assert len(doubled) == 32 and len(set(doubled)) == 30
    assert [p["total"] for p in results["duplicates"]] == [32, 32, 32, 32]
    twice = {n for n in doubled if doubled.count(n) == 2}
    positions = {n: [i for i, m in enumerate(doubled) if m == n] for n in twice}
    assert all(second // 10 != first // 10 for first, second in positions.values())


def test_crit_listing_cut_mid_page_and_future_times(clock: Clock) -> None:
    sim = simulator("iaso", {"size": 30, "faults": {"cut_at": 14}}, clock)
    sim.start("127.0.0.1", 0)
    try:
        headers = iaso_headers(sim)
        first = page(sim, headers, 0, 10)
        assert len(first["vms"]) == 10
        answer = requests.get(sim.url + "/vms", params={"offset": 10, "limit": 10},
                              headers=headers, stream=True, timeout=10)
        received = b""
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for piece in answer.iter_content(1024):
                received += piece
        assert received.count(b'"name":') == 5 and not received.endswith(b"]}")
        assert len(page(sim, headers, 20, 10)["vms"]) == 10   # pages past the cut are whole
    finally:
        sim.stop()
    whole = simulator("iaso", {"size": 30, "faults": {"future": 2}}, clock)
    whole.start("127.0.0.1", 0)
    try:
        vms = everything(whole, iaso_headers(whole), limit=100)
        future = [vm for vm in vms if (vm["lastBackup"]["time"] or 0) > NOW]
        assert len(future) == 2
        assert all(NOW + HOUR <= vm["lastBackup"]["time"] <= NOW + 48 * HOUR for vm in future)
    finally:
        whole.stop()


def test_unknown_bad_listing_requests_are_refused(iaso: Simulator) -> None:
    headers = iaso_headers(iaso)
    for query in ({"limit": 0}, {"limit": "ten"}, {"offset": -1}, {"since": "yesterday"},
                  {"since": "nan"}, {"limit": 100001}):
        answer = requests.get(iaso.url + "/vms", params=query, headers=headers, timeout=5)
        assert answer.status_code == 400 and answer.json()["statusCode"] == 400, query
    assert requests.get(iaso.url + "/vms", timeout=5).status_code == 401


def test_ok_one_hundred_thousand_vms_in_one_answer(clock: Clock) -> None:
    sim = simulator("commvault", {"size": 100000}, clock)
    sim.start("127.0.0.1", 0)
    try:
        answer = requests.get(sim.url + "/V4/VirtualMachines", headers=commvault_headers(sim),
                              stream=True, timeout=60)
        names, size, tail = 0, 0, b""
        for piece in answer.iter_content(1 << 16):
            names += (tail[-6:] + piece).count(b'"UUID":')
            size += len(piece)
            tail = piece
        assert answer.headers["Transfer-Encoding"] == "chunked"
        assert names == 100000 and tail.endswith(b"]}") and size > 40_000_000
    finally:
        sim.stop()


@pytest.mark.parametrize("inventory,message", [
    ({"failed": 0.6, "stale": 0.5}, "add up to more than 1"),
    ({"size": -1}, "inventory.size: expected a whole number from 0"),
    ({"colour": 1}, "inventory: unknown keys: colour"),
    ({"faults": {"cut": 3}}, "inventory.faults: unknown keys: cut"),
    ({"faults": {"repeat_pages": [1]}}, "repeat_pages: expected page numbers from 2"),
    ({"size": 10, "faults": {"future": 9}}, "9 VMs in the future, but only 6"),
    ({"backup_interval_hours": 0}, "backup_interval_hours: expected a number above 0"),
], ids=["unknown-shares-over-one", "unknown-negative-size", "unknown-key", "unknown-fault",
        "unknown-repeat-first-page", "unknown-more-future-than-healthy", "unknown-zero-interval"])
def test_unknown_inventory_scenario_errors(inventory: Dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from({"inventory": inventory})


def test_ok_command_line_serves_the_commvault_contract(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("inventory: {size: 5}\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "libiaso.simulator", "--contract", "commvault", "--port", "0",
         "--port-file", str(url_file), "--scenario", str(scenario)],
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if url_file.exists() and url_file.read_text().strip():
                break
            time.sleep(0.05)
        url = url_file.read_text().strip()
        assert url.endswith("/webconsole/api")
        assert requests.get(url + "/", timeout=5).status_code == 200
        assert requests.get(url + "/V4/VirtualMachines", timeout=5).status_code == 401
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0 and "commvault contract" in out and err == ""


def test_ok_documented_scenarios_are_accepted() -> None:
    """Every scenario block of docs/simulator.md is a scenario the simulator plays."""
    page = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", page, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        scenario_from(yaml.safe_load(block))
