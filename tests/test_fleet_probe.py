"""check_iaso_fleet against the simulator's seeded fleet, through both contracts: the state
rule, incremental runs and resyncs, what the core is given (spool files read back), and each
way a run must end in a clear state instead of a partial result: listings that do not add up,
the probe's own deadline, too many VMs, the snapshot or the delivery route unusable.

The simulator says what every VM is (healthy, failed, stale, never backed up, excluded; exact
counts of its configured shares): the expected figures come from it, not from the fleet code.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from conftest import PASSWORD, USERNAME, play, write_config

from iaso_probes.check_iaso_fleet import probe
from libiaso.simulator.inventory import EXCLUDED, NEVER, STALE
from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator

SIZE = 400
CLEAN = {"size": SIZE, "failed": 0, "stale": 0, "never": 0, "excluded": 0.05}


def configure(tmp_path: Path, url: str, *, fleet: Optional[Dict[str, Any]] = None,
              base: str = "iaso", spool: bool = True,
              endpoints: Optional[Dict[str, Any]] = None) -> Path:
    settings: Dict[str, Any] = {"state_dir": str(tmp_path / "state")}
    if spool:
        (tmp_path / "spool").mkdir(exist_ok=True)
        settings["delivery"] = {"route": "spool", "spool_dir": str(tmp_path / "spool")}
    settings.update(fleet or {})
    profile: Dict[str, Any] = {"version": 2, "base": base}
    if endpoints:
        profile["endpoints"] = endpoints
    return write_config(tmp_path, url, extra={"proxy": "none", "profile": profile,
                                              "fleet": settings})


def run(config: Path, *args: str) -> Any:
    return probe.run(["-C", str(config), "-t", "30", *args])


def spooled(tmp_path: Path) -> List[Dict[str, str]]:
    """Every record of every complete check-result file in the spool, as the core reads it."""
    records = []
    for ok in sorted((tmp_path / "spool").glob("c??????.ok")):
        text = ok.with_suffix("").read_text()
        for block in text.split("\n\n")[1:]:
            fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            if fields:
                records.append(fields)
    return records


def expected_kinds(sim: Any) -> Dict[str, int]:
    fleet, now = sim.fleet(), sim.clock()
    counts: Dict[str, int] = {}
    for index in range(fleet.size):
        kind = fleet.vm(index, now).kind
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def perfdata(output: str) -> Dict[str, float]:
    first = output.split("\n", 1)[0]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", first.split("|", 1)[1])}


def test_ok_a_fresh_fleet(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN})
    outcome = run(configure(tmp_path, sim.url))
    excluded = expected_kinds(sim)[EXCLUDED]
    assert outcome.code == 0, outcome.output
    assert outcome.first_line.startswith(
        f"IASO FLEET OK - lab: {SIZE} VMs, all {SIZE - excluded} judged backed up within 30 h - "
        f"8 groups, 0 with problems - full listing of {SIZE} - 8 results to the core (spool) | "
        "critical_pct=0.0%;1;5;0;100 vms=400;;;0 ok=380"), outcome.output
    records = spooled(tmp_path)
    assert sorted(r["service_description"] for r in records) == [
        f"IASO fleet vmgroup-{n:02d}" for n in range(1, 9)]
    assert {r["host_name"] for r in records} == {"iaso-fleet-lab"}
    assert {r["return_code"] for r in records} == {"0"}


@pytest.mark.parametrize("stale, state", [(0.003, 0), (0.03, 1), (0.10, 2)],
                         ids=["ok-few-stale-under-1pct", "warn-3pct-stale", "crit-10pct-stale"])
def test_the_share_of_critical_vms_decides(stale: float, state: int, tmp_path: Path,
                                           sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN, stale=stale)})
    outcome = run(configure(tmp_path, sim.url))
    kinds = expected_kinds(sim)
    share = 100 * kinds.get(STALE, 0) / (SIZE - kinds[EXCLUDED])
    assert outcome.code == state, outcome.output
    assert perfdata(outcome.output)["critical_pct"] == pytest.approx(share, abs=0.001)
    groups = {r["service_description"]: r for r in spooled(tmp_path)}
    assert sum(r["return_code"] == "2" for r in groups.values()) == len(
        {vm_group(sim, i) for i in range(SIZE) if kind_of(sim, i) == STALE})


def kind_of(sim: Any, index: int) -> str:
    return str(sim.fleet().vm(index, sim.clock()).kind)


def vm_group(sim: Any, index: int) -> int:
    return int(sim.fleet().vm(index, sim.clock()).group)


@pytest.fixture
def commvault() -> Iterator[Simulator]:
    sim = Simulator(scenario_from({"credentials": {"username": USERNAME, "password": PASSWORD}}),
                    contract="commvault")
    sim.start()
    yield sim
    sim.stop()


def test_ok_both_contracts_describe_the_same_fleet(tmp_path: Path, sim: Any,
                                                   commvault: Simulator) -> None:
    inventory = {"size": SIZE, "failed": 0.05, "stale": 0.04, "never": 0.02, "excluded": 0.03,
                 "start": time.time() - 60}
    play(sim, {"inventory": inventory})
    play(commvault, {"inventory": inventory})
    (tmp_path / "iaso").mkdir()
    (tmp_path / "cv").mkdir()
    ours = run(configure(tmp_path / "iaso", sim.url), "--no-deliver")
    theirs = run(configure(tmp_path / "cv", commvault.url, base="commvault"), "--no-deliver")
    assert ours.code == theirs.code == 2
    transport = {"time": 0, "requests": 0, "received": 0}   # not what the fleet is
    assert perfdata(ours.output) | transport == perfdata(theirs.output) | transport
    counts = perfdata(ours.output)
    kinds = expected_kinds(sim)
    assert counts["never"] == kinds[NEVER] and counts["excluded"] == kinds[EXCLUDED]
    assert counts["requests"] == perfdata(theirs.output)["requests"] == 2   # login, listing
    assert "no results delivered" in theirs.first_line


def test_ok_incremental_runs_list_only_the_changes_and_judge_everything(
        tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN, stale=0.02, never=0.01)})
    config = configure(tmp_path, sim.url)
    first = run(config)
    second = run(config)
    assert "full listing of 400" in first.first_line
    changed = re.search(r"incremental listing of (\d+)", second.first_line)
    assert changed and int(changed.group(1)) < 40, second.first_line
    keep = ("vms", "ok", "warning", "critical", "never", "excluded", "critical_pct")
    assert {k: perfdata(first.output)[k] for k in keep} == \
        {k: perfdata(second.output)[k] for k in keep}
    assert "full listing of 400" in run(config, "--full").first_line


def test_ok_resync_when_the_last_full_listing_is_old(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url, fleet={"full_resync_hours": 24})
    run(config)
    path = tmp_path / "state" / "lab" / "fleet.json"
    kept = json.loads(path.read_text())
    kept["full_at"] -= 25 * 3600
    path.write_text(json.dumps(kept))
    assert "full listing of 400" in run(config).first_line


def test_ok_unusable_snapshot_is_set_aside_and_the_fleet_listed_afresh(
        tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url)
    run(config)
    path = tmp_path / "state" / "lab" / "fleet.json"
    path.write_text('{"format": 1, "basis": "x", "vms": [')
    outcome = run(config)
    assert outcome.code == 0 and "full listing of 400" in outcome.first_line
    assert f"fleet snapshot {path} was unusable, set aside as {path}.unusable" in outcome.output
    assert json.loads(path.read_text())["format"] == 1


def test_ok_vm_results_are_sent_when_changed_or_due(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN, stale=0.02)})
    hosts = tmp_path / "vm-hosts"
    hosts.write_text("VM-000001.example.net\nvm-000002.example.net\n# a comment\nbad;name\n")
    config = configure(tmp_path, sim.url, fleet={"delivery": {
        "route": "spool", "spool_dir": str(tmp_path / "spool"),
        "per_vm": {"hosts_file": str(hosts), "match": "short", "refresh_minutes": 60}}})
    first = run(config)
    sent = [r for r in spooled(tmp_path) if r["service_description"] == "IASO backup freshness"]
    assert sorted(r["host_name"] for r in sent) == ["VM-000001.example.net",
                                                   "vm-000002.example.net"]
    assert "1 host names of the core skipped: not usable as names" in first.output
    for path in (tmp_path / "spool").iterdir():
        path.unlink()
    run(config)
    assert [r["service_description"] for r in spooled(tmp_path)
            if r["service_description"] == "IASO backup freshness"] == []   # unchanged, not due
    path = tmp_path / "state" / "lab" / "fleet.json"
    kept = json.loads(path.read_text())
    for mark in kept["sent"].values():
        mark[1] -= 3601
    path.write_text(json.dumps(kept))
    run(config)
    assert len([r for r in spooled(tmp_path)
                if r["service_description"] == "IASO backup freshness"]) == 2


def test_warn_groups_beyond_the_bound_are_not_delivered(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN})
    outcome = run(configure(tmp_path, sim.url, fleet={"max_groups": 3}))
    assert outcome.code == 1, outcome.output
    assert "5 groups beyond fleet.max_groups not delivered" in outcome.first_line
    assert len(spooled(tmp_path)) == 3


def test_warn_times_in_the_future(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN, faults={"future": 4})})
    outcome = run(configure(tmp_path, sim.url))
    assert outcome.code == 1, outcome.output
    assert "4 VMs with data the API got wrong (times in the future, unusable fields)" in \
        outcome.first_line
    assert re.search(r"^WARNING vm-\d{6} \(vmgroup-\d\d\): last backup time \d+ (min|h) in the "
                     r"future", outcome.output, re.M), outcome.output


@pytest.mark.parametrize("faults, words", [
    ({"cut_at": 123}, r"the listing stopped after 123 of 400 entries, 2 request\(s\): the answer "
                      r"from http://127\.0\.0\.1:\d+/api/v1/vms was cut short"),
    ({"overlap": 2}, r"the listing names '[0-9a-f-]+' twice \(entries 98 and 100\): pages "
                     r"overlap or repeat"),
    ({"total_drift": 3}, r"the total moved from 400 to 403 between pages"),
    ({"duplicates": 1}, r"the listing names '[0-9a-f-]+' twice"),
], ids=["crit-listing-cut-mid-way", "crit-pages-overlap", "crit-total-moves",
        "crit-vm-listed-twice"])
def test_crit_a_listing_that_does_not_add_up_is_not_judged(
        faults: Dict[str, Any], words: str, tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN, faults=faults)})
    config = configure(tmp_path, sim.url, endpoints={"vm_list": {"paging": {
        "style": "offset", "size": 100}}})
    before = sim.counters["vm_list"]
    outcome = run(config)
    assert outcome.code == 2, outcome.output
    assert re.match(rf"IASO FLEET CRITICAL - lab: {words}", outcome.first_line), outcome.output
    assert spooled(tmp_path) == []
    assert not (tmp_path / "state" / "lab" / "fleet.json").exists()
    requests = sim.counters["vm_list"] - before
    if "cut_at" in faults:
        assert requests == 2
    else:   # read again once from the start: a live listing may move
        assert requests >= 4 and requests % 2 == 0, requests


def test_crit_more_vms_than_the_configured_bound(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN})
    outcome = run(configure(tmp_path, sim.url, fleet={"max_vms": 150}))
    assert outcome.code == 2, outcome.output
    assert "more than 150 entries (the bound fleet.max_vms)" in outcome.first_line


def test_crit_the_deadline_ends_the_run_with_its_output(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN, "endpoints": {"vm_list": {"latency": 20}}})
    started = time.monotonic()
    outcome = probe.run(["-C", str(configure(tmp_path, sim.url)), "-t", "3"])
    assert time.monotonic() - started < 3.0
    assert outcome.code == 2, outcome.output
    assert re.match(r"IASO FLEET CRITICAL - lab: the listing stopped after 0 entries, 1 "
                    r"request\(s\): no complete answer from .*/vms after 2\.\d s: stopped at "
                    r"the probe's deadline \(-t 3\)", outcome.first_line), outcome.output


def test_ok_a_version_1_profile_reads_our_contracts_listing(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN)})
    config = write_config(tmp_path, sim.url, extra={"fleet": {"state_dir": str(tmp_path / "s")},
                                                    "profile": {"auth": {"prefix": "Bearer "}}})
    outcome = run(config, "--no-deliver")
    assert outcome.code == 0, outcome.output


def test_unknown_a_profile_without_listing_says_so(tmp_path: Path, sim: Any) -> None:
    config = write_config(tmp_path, sim.url, extra={
        "fleet": {"state_dir": str(tmp_path / "s")},
        "profile": {"version": 2, "endpoints": {"vm_list": None}}})
    outcome = run(config)
    assert outcome.code == 3
    assert "the profile has no vm_list endpoint" in outcome.first_line


def test_unknown_every_vm_excluded_says_nothing(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": dict(CLEAN, excluded=1.0)})
    outcome = run(configure(tmp_path, sim.url))
    assert outcome.code == 3, outcome.output
    assert "no VM to judge: every one is excluded or unprotected" in outcome.first_line


def test_unknown_spool_missing_after_a_good_listing(tmp_path: Path, sim: Any) -> None:
    play(sim, {"inventory": CLEAN})
    config = configure(tmp_path, sim.url)
    (tmp_path / "spool").rmdir()
    outcome = run(config)
    assert outcome.code == 3, outcome.output
    assert re.match(r"IASO FLEET UNKNOWN - lab: the check-results spool .*/spool cannot be used",
                    outcome.first_line), outcome.output


def test_ok_every_option_is_documented() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "probes" /
            "check_iaso_fleet.md").read_text()
    for param in probe.command().params:
        for flag in param.opts:
            assert f"`{flag}" in page or f", {flag}" in page, flag
