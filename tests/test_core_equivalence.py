"""The Nagios objects (etc/nagios) and the Icinga 2 objects (etc/icinga2) are the same
supervision: read from both real cores, not from our files.

- What each check runs: both cores run every host and service check against recorders standing
  in for the probes (they print their arguments as the check's output), and each probe's own
  option parser reads what it would have been given: thresholds, targets, environment, timeout,
  configuration file.
- How each is scheduled and shown: intervals, attempts, flap detection, notes and action URLs,
  groups, from Nagios' objects.cache and Icinga 2's object dump (`icinga2 object list`).
- The dependencies on life, from the same sources.

Only the hosts' scheduling differs, by design (docs/icinga2.md).
"""
from __future__ import annotations

import base64
import importlib
import re
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Set, Tuple

import pytest
from conftest import require_core
from icinga_core import BINARY as ICINGA
from icinga_core import Icinga
from nagios_core import BINARY as NAGIOS
from nagios_core import NagiosCore

require_core(NAGIOS, "nagios4-core")
require_core(ICINGA, "icinga2-bin icinga2-common")

pytestmark = pytest.mark.integration

PROBES = ("check_iaso_life", "check_iaso_health", "check_iaso_response_time",
          "check_iaso_auth", "check_iaso_backup", "check_iaso_restore")
CONFIG = Path("/etc/iaso-probes/iaso.yaml")
RECORDER = """#!/bin/sh
# Stands in for a probe: prints what the core gave it, base64 word by word.
out="RECORDED $(basename "$0")"
for word in "$@"; do out="$out $(printf '%s' "$word" | base64 -w0)"; done
echo "$out config=$(printf '%s' "${IASO_PROBES_CONFIG:-}" | base64 -w0)"
"""

Checks = Dict[Tuple[str, str], Dict[str, Any]]   # (host, service or "") -> what the probe read


class Cores:
    def __init__(self, nagios: NagiosCore, icinga: Icinga) -> None:
        self.nagios = nagios
        self.icinga = icinga


@pytest.fixture(scope="module")
def cores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cores]:
    work = tmp_path_factory.mktemp("equivalence")
    recorders = work / "bin"
    recorders.mkdir()
    for probe in PROBES:
        (recorders / probe).write_text(RECORDER)
        (recorders / probe).chmod(0o755)
    nagios = NagiosCore(work / "nagios", recorders, CONFIG)
    assert "Total Errors:   0" in nagios.verify().stdout
    icinga = Icinga(work / "icinga2", CONFIG, probes_dir=recorders)
    validated = icinga.validate()
    assert validated.returncode == 0, validated.stdout[-3000:]
    nagios.start()
    icinga.start()
    try:
        yield Cores(nagios, icinga)
    finally:
        nagios.stop()
        icinga.stop()


def parsed(output: str) -> Dict[str, Any]:
    """What the probe named in a recorder's output would have read from its arguments."""
    words = output.split()
    assert words[0] == "RECORDED", output
    program = words[1]
    arguments = [base64.b64decode(word).decode() for word in words[2:-1]]
    environment_config = base64.b64decode(words[-1].split("=", 1)[1]).decode()
    probe = importlib.import_module(f"iaso_probes.{program}").probe
    context = probe.command().make_context(program, arguments, resilient_parsing=True)
    params = dict(context.params)
    params["config"] = params.get("config") or environment_config
    return {"program": program, **params}


def recorded(outputs: Dict[Tuple[str, str], str]) -> Checks:
    return {key: parsed(output) for key, output in outputs.items()}


def wait_all_recorded(read: Any, force: Any, expected: int, timeout: float = 60) -> Dict:
    deadline = time.monotonic() + timeout
    outputs: Dict = {}
    while time.monotonic() < deadline:
        outputs = read()
        if len(outputs) == expected and all(o.startswith("RECORDED ") for o in outputs.values()):
            return outputs
        force()
        time.sleep(1)
    raise AssertionError(f"not every check ran: {outputs}")


@pytest.fixture(scope="module")
def nagios_checks(cores: Cores) -> Checks:
    core = cores.nagios

    def read() -> Dict[Tuple[str, str], str]:
        found = {key: status["plugin_output"] for key, status in core.services().items()}
        found.update({(host, ""): status["plugin_output"]
                      for host, status in core.hosts().items()})
        return found

    def force() -> None:
        for host in core.hosts():
            core.command(f"SCHEDULE_FORCED_HOST_CHECK;{host};{int(time.time())}")
            core.force_checks(host)

    return recorded(wait_all_recorded(read, force, 21))


@pytest.fixture(scope="module")
def icinga_checks(cores: Cores) -> Checks:
    core = cores.icinga

    def read() -> Dict[Tuple[str, str], str]:
        found = {key: status["plugin_output"] for key, status in core.all_services().items()}
        found.update({(host, ""): status["plugin_output"]
                      for host, status in core.hosts().items()})
        return found

    def force() -> None:
        for (host, service) in core.all_services():
            core.force(service, host)
        for host in core.hosts():
            core.force_host(host)

    return recorded(wait_all_recorded(read, force, 21))


def test_ok_same_hosts_and_services(nagios_checks: Checks, icinga_checks: Checks) -> None:
    assert sorted(nagios_checks) == sorted(icinga_checks)
    assert len([key for key in nagios_checks if key[1]]) == 18


def test_ok_every_check_runs_the_same_probe_with_the_same_options(
        nagios_checks: Checks, icinga_checks: Checks) -> None:
    different = {}
    for key, nagios in nagios_checks.items():
        icinga = icinga_checks.get(key, {})
        apart = {name: (nagios.get(name), icinga.get(name)) for name in set(nagios) | set(icinga)
                 if nagios.get(name) != icinga.get(name)}
        if apart:
            different[key] = apart
    assert not different, "\n".join(f"{key}: (Nagios, Icinga 2) {apart}"
                                     for key, apart in sorted(different.items()))
    backup = nagios_checks[("iaso-prod", "IASO backup linux-vms")]
    assert (str(backup["warning"]), str(backup["critical"]), backup["set_name"]) \
        == ("14400", "28800", "linux-vms"), backup
    assert {check["config"] for check in nagios_checks.values()} == {str(CONFIG)}


def nagios_objects(core: NagiosCore, kind: str) -> Iterator[Dict[str, str]]:
    text = (core.var / "objects.cache").read_text()
    for block in re.findall(rf"^define {kind} \{{\n(.*?)\n\s*\}}", text, re.M | re.S):
        yield dict(line.strip().split("\t", 1) for line in block.splitlines() if "\t" in line)


def nagios_groups(core: NagiosCore) -> Dict[Tuple[str, str], Set[str]]:
    groups: Dict[Tuple[str, str], Set[str]] = {}
    for group in nagios_objects(core, "servicegroup"):
        members = group.get("members", "").split(",")
        for host, service in zip(members[::2], members[1::2]):
            groups.setdefault((host, service), set()).add(group["servicegroup_name"])
    return groups


def test_ok_same_scheduling_links_groups_and_flapping(cores: Cores) -> None:
    groups = nagios_groups(cores.nagios)
    nagios = {}
    for service in nagios_objects(cores.nagios, "service"):
        key = (service["host_name"], service["service_description"])
        nagios[key] = {
            # Nagios counts in interval_length units, 60 seconds in every production core.
            "check_interval": float(service["check_interval"]) * 60,
            "retry_interval": float(service["retry_interval"]) * 60,
            "max_check_attempts": int(service["max_check_attempts"]),
            "flapping": service["flap_detection_enabled"] == "1",
            "notes_url": service["notes_url"], "action_url": service["action_url"],
            "groups": groups.get(key, set()),
            "perfdata": service["process_perf_data"] == "1",
        }
    icinga = {}
    for service in cores.icinga.objects("Service"):
        key = (service["host_name"], service["name"])
        icinga[key] = {
            "check_interval": float(service["check_interval"]),
            "retry_interval": float(service["retry_interval"]),
            "max_check_attempts": int(service["max_check_attempts"]),
            "flapping": bool(service["enable_flapping"]),
            "notes_url": service["notes_url"], "action_url": service["action_url"],
            "groups": set(service["groups"]),
            "perfdata": bool(service["enable_perfdata"]),
        }
    assert len(nagios) == 18
    assert nagios == icinga


def test_ok_same_dependencies_on_life(cores: Cores) -> None:
    nagios: Set[Tuple[str, str, str, str]] = set()
    for dependency in nagios_objects(cores.nagios, "servicedependency"):
        assert dependency["host_name"] == dependency["dependent_host_name"]
        held = dependency.get("notification_failure_options", "")
        stopped = dependency.get("execution_failure_options", "n")
        nagios.add((dependency["host_name"], dependency["service_description"],
                    dependency["dependent_service_description"],
                    f"notifications held on {sorted(held.split(','))}, "
                    f"checks stopped on {sorted(stopped.split(',')) if stopped != 'n' else []}"))
    icinga: Set[Tuple[str, str, str, str]] = set()
    states = {"OK": "o", "Warning": "w", "Critical": "c", "Unknown": "u"}
    for dependency in cores.icinga.objects("Dependency"):
        assert dependency["parent_host_name"] == dependency["child_host_name"]
        assert dependency["ignore_soft_states"] is True      # soft_state_dependencies=0
        failing = sorted(set(states.values()) - {states[s] for s in dependency["states"]})
        held = failing if dependency["disable_notifications"] else []
        stopped = failing if dependency["disable_checks"] else []
        icinga.add((dependency["parent_host_name"], dependency["parent_service_name"],
                    dependency["child_service_name"],
                    f"notifications held on {held}, checks stopped on {stopped}"))
    assert len(nagios) == 15
    assert nagios == icinga


def test_ok_hosts_link_to_life_and_run_it(cores: Cores, nagios_checks: Checks) -> None:
    nagios = {host["host_name"]: (host["notes_url"], host["action_url"],
                                  host["flap_detection_enabled"] == "1")
              for host in nagios_objects(cores.nagios, "host")}
    icinga = {host["name"]: (host["notes_url"], host["action_url"],
                             bool(host["enable_flapping"]))
              for host in cores.icinga.objects("Host")}
    assert nagios == icinga and len(nagios) == 3
    for host in nagios:
        assert nagios_checks[(host, "")]["program"] == "check_iaso_life"

