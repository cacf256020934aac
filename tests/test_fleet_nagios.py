"""The fleet check in a real Nagios 4 (Debian's nagios4): the shipped objects (etc/nagios, with
fleet.cfg), the core running check_iaso_fleet as its own service, the results going back in
through the check-results spool and through the command file, per-VM services chosen from the
core's objects.cache, and a stalled collector turning the passive services stale without a
ticket per group.

What the group results must say comes from the simulator's own classification of its VMs
(healthy, failed, stale, never backed up, excluded), not from the fleet code.
"""
from __future__ import annotations

import re
import stat
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml
from conftest import PASSWORD, USERNAME, play, require_core
from nagios_core import BINARY, NagiosCore

from libiaso.simulator.inventory import EXCLUDED, FAILED, HEALTHY, NEVER, STALE

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = {"size": 400, "groups": 4, "failed": 0.02, "stale": 0.01, "never": 0.005,
             "excluded": 0.02}
GROUPS = [f"vmgroup-{n:02d}" for n in range(1, 5)]
FRESHNESS = 15   # seconds: the test objects' freshness_threshold, instead of 45 min / 3 h
SETTINGS = ["execute_service_checks=0", "execute_host_checks=0",
            "service_freshness_check_interval=1", "additional_freshness_latency=0",
            "check_result_reaper_frequency=1"]

require_core(BINARY, "nagios4-core")
pytestmark = pytest.mark.integration


def fleet_kinds(sim: Any) -> List[Tuple[str, str, str]]:
    """(name, group, kind) of every VM, as the simulator made it."""
    fleet = sim.fleet()
    now = sim.clock()
    found = []
    for index in range(fleet.size):
        vm = fleet.vm(index, now)
        found.append((vm.name, f"vmgroup-{vm.group + 1:02d}", vm.kind))
    return found


def pick_hosts(kinds: List[Tuple[str, str, str]]) -> Dict[str, str]:
    """One VM of each kind, as hosts of the core: name -> kind."""
    chosen: Dict[str, str] = {}
    for name, _group, kind in kinds:
        if kind not in chosen.values():
            chosen[name] = kind
    return chosen


def object_file(hosts: Dict[str, str]) -> str:
    lines = []
    for group in GROUPS:
        lines.append("define service {\n  use iaso-fleet-group-service\n"
                     "  host_name iaso-fleet-lab\n"
                     f"  service_description IASO fleet {group}\n"
                     f"  freshness_threshold {FRESHNESS}\n}}\n")
    for name in hosts:
        lines.append(f"define host {{\n  use iaso-fleet-host\n  host_name {name}\n}}\n")
        lines.append("define service {\n  use iaso-fleet-vm-service\n"
                     f"  host_name {name}\n  service_description IASO backup freshness\n"
                     f"  freshness_threshold {FRESHNESS}\n}}\n")
    return "".join(lines)


class Fleet:
    def __init__(self, core: NagiosCore, sim: Any, hosts: Dict[str, str],
                 kinds: List[Tuple[str, str, str]]) -> None:
        self.core = core
        self.sim = sim
        self.hosts = hosts
        self.kinds = kinds


@pytest.fixture(scope="module", params=["spool", "command_file"])
def fleet(request: Any, simulator: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Fleet]:
    route = request.param
    play(simulator, {"inventory": INVENTORY})
    kinds = fleet_kinds(simulator)
    hosts = pick_hosts(kinds)
    assert set(hosts.values()) == {HEALTHY, FAILED, STALE, NEVER, EXCLUDED}
    work = tmp_path_factory.mktemp(f"fleet-nagios-{route}")
    objects = work / "fleet-test.cfg"
    objects.write_text(object_file(hosts))
    secret = work / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    var = work / "core" / "var"
    delivery: Dict[str, Any] = {"route": route, "spool_dir": str(var / "spool"),
                                "command_file": str(var / "nagios.cmd"),
                                "per_vm": {"objects_cache": str(var / "objects.cache")}}
    config = work / "iaso.yaml"
    config.write_text(yaml.safe_dump({"environments": {"lab": {
        "base_url": simulator.url, "proxy": "none",
        "credentials": {"username": USERNAME, "password_file": str(secret)},
        "profile": {"version": 2, "base": "iaso"},
        "fleet": {"state_dir": str(work / "state"), "delivery": delivery}}}}))
    core = NagiosCore(work / "core", Path(sys.executable).parent, config,
                      extra_objects=[ROOT / "etc" / "nagios" / "fleet.cfg", objects],
                      settings=SETTINGS)
    verified = core.verify()
    assert "Total Errors:   0" in verified.stdout, verified.stdout[-3000:]
    assert "Total Warnings: 0" in verified.stdout, verified.stdout[-3000:]
    dependencies = re.search(r"Checked (\d+) service dependencies", verified.stdout)
    assert dependencies and int(dependencies.group(1)) == 15 + len(GROUPS), verified.stdout
    core.start()
    try:
        fifo = var / "nagios.cmd"
        for _ in range(100):   # commands written before the core made its FIFO are lost
            if fifo.exists() and stat.S_ISFIFO(fifo.stat().st_mode):
                break
            time.sleep(0.1)
        yield Fleet(core, simulator, hosts, kinds)
    finally:
        core.stop()
        play(simulator, {})


def collector_state(perfdata: str) -> int:
    share = float(re.search(r"critical_pct=([\d.]+)%", perfdata).group(1))  # type: ignore[union-attr]
    return 2 if share > 5 else 1 if share > 1 else 0


def test_ok_collector_run_by_the_core_feeds_every_group_and_vm_host(fleet: Fleet) -> None:
    core = fleet.core
    status = run_collector(core, r"^IASO FLEET \w+ - lab: 400 VMs")
    assert int(status["current_state"]) == collector_state(status["performance_data"]), status
    assert "vms=400" in status["performance_data"]
    assert PASSWORD not in status["plugin_output"] + status["long_plugin_output"]

    by_group: Dict[str, Dict[str, int]] = {g: {} for g in GROUPS}
    for _name, group, kind in fleet.kinds:
        by_group[group][kind] = by_group[group].get(kind, 0) + 1
    for group, counts in by_group.items():
        result = wait_checked(core, "iaso-fleet-lab", f"IASO fleet {group}",
                              rf"^IASO FLEET (OK|WARNING|CRITICAL) - lab {group}: ")
        perf = dict(re.findall(r"'?(\w+)'?=(\d+)", result["performance_data"]))
        assert int(perf["vms"]) == sum(counts.values())
        assert int(perf["ok"]) == counts.get(HEALTHY, 0)
        assert int(perf["excluded"]) == counts.get(EXCLUDED, 0)
        assert int(perf["never"]) == counts.get(NEVER, 0)
        assert int(perf["critical"]) + int(perf["warning"]) + int(perf["failed"]) == \
            counts.get(STALE, 0) + counts.get(FAILED, 0)
        expected = 2 if counts.get(STALE) or counts.get(NEVER) else \
            1 if int(perf["warning"]) or int(perf["failed"]) else 0
        assert int(result["current_state"]) == expected, (group, result)
        assert result["check_type"] == "1"   # passive
        if expected:
            assert re.search(r"^(CRITICAL|WARNING) vm-\d{6}: ", result["long_plugin_output"],
                             re.M), result

    words = {HEALTHY: (0, r"last good backup \d+ (min|h) ago"),
             STALE: (2, r"last good backup \d+ (h|d \d+ h) ago"),
             NEVER: (2, r"never backed up successfully"),
             EXCLUDED: (0, r"excluded from backups on purpose"),
             FAILED: (None, r"last good backup .*, last backup (Failed|Killed|Failed to Start)"
                            r": \w")}
    for name, kind in fleet.hosts.items():
        state, pattern = words[kind]
        result = wait_checked(core, name, "IASO backup freshness",
                              rf"^IASO BACKUP FRESHNESS \w+ - {name}: {pattern}")
        if state is not None:
            assert int(result["current_state"]) == state, (name, kind, result)
        if kind in (HEALTHY, STALE):
            assert re.search(r"'age'=\d+s;108000;172800;0", result["performance_data"]), result


@pytest.mark.parametrize("fleet", ["spool"], indirect=True)   # freshness is the core's own
def test_unknown_stalled_collector_turns_results_stale_with_one_ticket(fleet: Fleet) -> None:
    core = fleet.core
    healthy = run_collector(core, r"^IASO FLEET \w+ - lab: 400 VMs")
    assert healthy["current_state"] in ("0", "1"), healthy   # under -c 5: groups notify
    for group in GROUPS:
        wait_checked(core, "iaso-fleet-lab", f"IASO fleet {group}", r"^IASO FLEET ")
    assert notifications(core, "iaso-fleet-lab;", 0), "a group's problem notifies while " \
                                                      "the collector is healthy"

    play(fleet.sim, {"inventory": INVENTORY,
                     "endpoints": {"vm_list": {"status": 503, "body": "html"}}})
    broken = r"^IASO FLEET CRITICAL - lab: .*/vms answered HTTP 503"
    collector = run_collector(core, broken)
    while collector["state_type"] != "1":   # HARD after max_check_attempts (2)
        collector = run_collector(core, broken)
    began = int(time.time())
    stale = r"^IASO FLEET UNKNOWN - no result from the fleet collector within the freshness"
    for group in GROUPS:
        wait_checked(core, "iaso-fleet-lab", f"IASO fleet {group}", stale, state=3,
                     timeout=FRESHNESS * 4)
    for name in fleet.hosts:
        wait_checked(core, name, "IASO backup freshness",
                     r"^IASO BACKUP FRESHNESS UNKNOWN - no result from the fleet collector",
                     state=3, timeout=FRESHNESS * 4)
    time.sleep(2)
    assert notifications(core, "iaso-fleet-lab;", began) == []
    assert notifications(core, ";IASO backup freshness;", 0) == []
    assert notifications(core, "iaso-lab;IASO fleet;", 0), "the collector's own ticket"
    play(fleet.sim, {"inventory": INVENTORY})


def notifications(core: NagiosCore, about: str, since: int) -> List[str]:
    """SERVICE NOTIFICATION lines of the core's log naming ``about``, from ``since``."""
    return [line for line in core.log().splitlines()
            if "SERVICE NOTIFICATION:" in line and about in line and int(line[1:11]) >= since]


def run_collector(core: NagiosCore, output: str) -> Dict[str, str]:
    """Have the core run the collector now (as its schedule would), and its result."""
    since = int(time.time())
    for _ in range(4):
        core.command(f"SCHEDULE_FORCED_SVC_CHECK;iaso-lab;IASO fleet;{int(time.time())}")
        try:
            return wait_checked(core, "iaso-lab", "IASO fleet", output, timeout=15, after=since)
        except AssertionError:
            continue
    raise AssertionError("the core did not run the collector: " + core.log()[-2000:])


def wait_checked(core: NagiosCore, host: str, service: str, output: str,
                 state: Optional[int] = None, timeout: float = 60,
                 after: int = 0) -> Dict[str, str]:
    """Wait for a result of the service whose output matches (in ``state`` if given, checked
    at ``after`` or later), without forcing a check: the collector, or the core's freshness
    check, must bring it."""
    deadline = time.monotonic() + timeout
    last: Dict[str, str] = {}
    while time.monotonic() < deadline:
        last = core.services().get((host, service), {})
        if last.get("has_been_checked") == "1" and re.search(
                output, last.get("plugin_output", "")) and (
                state is None or int(last["current_state"]) == state):
            return last
        time.sleep(0.25)
    raise AssertionError(f"{host}/{service}: no result matching {output!r}; last: "
                         f"{ {k: last.get(k) for k in ('current_state', 'plugin_output')} }\n"
                         + core.log()[-2000:])
