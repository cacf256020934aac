"""The fleet check with a real Icinga 2 (Debian's icinga2) and its REST API: the shipped
etc/icinga2 objects (iaso-fleet.conf, iaso-fleet-hosts.conf.sample's templates), the daemon
running check_iaso_fleet as its own service, the results coming back through
``POST /v1/actions/process-check-result`` with the API's certificate verified, per-VM services
for the VM hosts the hosts file names, a stalled collector turning the passive services stale
(dummy), and a certificate the collector does not trust refused, with nothing sent.

Few objects: Icinga 2 needs about 8 s and 600 MB to validate 50,000 (recipes.md); the 50,000
passive services are the Nagios benchmark's (bench/fleet_scale.py).
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml
from conftest import PASSWORD, USERNAME, play, require_core
from icinga2_core import BINARY, IcingaCore, make_pki

from iaso_probes.check_iaso_fleet import probe as fleet_probe
from libiaso.simulator.inventory import EXCLUDED, HEALTHY, NEVER, STALE

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "etc" / "icinga2"
INVENTORY = {"size": 300, "groups": 3, "failed": 0.02, "stale": 0.01, "never": 0.01,
             "excluded": 0.02}
GROUPS = [f"vmgroup-{n:02d}" for n in range(1, 4)]
FLEET_USER = "iaso-fleet"
FLEET_PASSWORD = "fleet-api-password-never-shown"
FRESHNESS = 15   # seconds, instead of 45 minutes (groups) and 3 hours (VMs)

require_core(BINARY, "icinga2-bin icinga2-common")
pytestmark = pytest.mark.integration


class Icinga(IcingaCore):
    """A private Icinga 2 with an API listener; the shipped fleet objects and the test's hosts,
    the collector's API user with only the permission it needs."""

    def __init__(self, work: Path, config: Path, hosts: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        (work / "hosts.conf").write_text(hosts)
        super().__init__(work, [
            f'const IasoProbesDir = "{Path(sys.executable).parent}"',
            f'const IasoProbesConfig = "{config}"',
            "include <itl>",
            *[f'include "{SHIPPED / name}"' for name in
              ("iaso-commands.conf", "iaso-services.conf", "iaso-fleet.conf")],
            f'include "{work / "hosts.conf"}"'],
            {FLEET_USER: (FLEET_PASSWORD, ["actions/process-check-result"])})

    def service(self, host: str, service: str) -> Dict[str, Any]:
        found = self.api("GET", f"/v1/objects/services/{host}!{service}",
                         {"attrs": ["state", "state_type", "last_check_result", "last_check",
                                    "check_attempt"]})
        return dict(found["results"][0]["attrs"])

    def wait(self, host: str, service: str, output: str, state: Optional[int] = None,
             after: float = 0, timeout: float = 60) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.service(host, service)
            result = last.get("last_check_result") or {}
            if result and re.search(output, result.get("output", "")) and \
                    (state is None or int(last["state"]) == state) and \
                    float(last.get("last_check") or 0) >= after:
                return last
            time.sleep(0.3)
        raise AssertionError(f"{host}!{service}: no result ~ {output!r}: {last}")

    def run_collector(self, output: str) -> Dict[str, Any]:
        since = time.time()
        self.api("POST", "/v1/actions/reschedule-check",
                 {"type": "Service", "service": "iaso-lab!IASO fleet", "force": True})
        return self.wait("iaso-lab", "IASO fleet", output, after=since, timeout=90)

    def notified(self, since: float) -> List[str]:
        text = (self.dirs["log"] / "icinga2.log").read_text() \
            if (self.dirs["log"] / "icinga2.log").exists() else ""
        return [line for line in text.splitlines() if "Sending" in line and "notification"
                in line.lower()]


def fleet_kinds(sim: Any) -> Dict[str, str]:
    fleet = sim.fleet()
    now = sim.clock()
    return {fleet.vm(i, now).name: fleet.vm(i, now).kind for i in range(fleet.size)}


@pytest.fixture(scope="module")
def icinga(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Icinga]:
    play(simulator, {"inventory": INVENTORY})
    kinds = fleet_kinds(simulator)
    vms: Dict[str, str] = {}
    for name, kind in kinds.items():
        if kind in (HEALTHY, STALE, NEVER, EXCLUDED) and kind not in vms.values():
            vms[name] = kind
    work = tmp_path_factory.mktemp("fleet-icinga2")
    secret = work / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    fleet_secret = work / "icinga-password"
    fleet_secret.write_text(FLEET_PASSWORD + "\n")
    fleet_secret.chmod(0o600)
    hosts_file = work / "vm-hosts"
    hosts_file.write_text("# VMs that are hosts in Icinga 2\n" + "\n".join(vms) + "\n")
    config = work / "iaso.yaml"
    hosts = "\n".join([
        (SHIPPED / "iaso-fleet-hosts.conf.sample").read_text().split("object Host")[0],
        'object Host "iaso-lab" { import "iaso-environment"\n  vars.iaso_env = "lab"\n'
        '  enable_active_checks = false }',
        'object Host "iaso-fleet-lab" { import "iaso-fleet-host"\n'
        '  vars.iaso_fleet_collector = "iaso-lab"\n'
        f'  vars.iaso_fleet_groups = {GROUPS!r}\n'.replace("'", '"')
        + f'  vars.iaso_fleet_freshness = {FRESHNESS}s }}',
        *[f'object Host "{name}" {{ import "iaso-fleet-host"\n'
          '  vars.iaso_backup_freshness = true\n'
          f'  vars.iaso_backup_freshness_threshold = {FRESHNESS}s }}' for name in vms],
    ])
    instance = Icinga(work / "icinga2", config, hosts)
    config.write_text(yaml.safe_dump({"environments": {"lab": {
        "base_url": simulator.url, "proxy": "none",
        "credentials": {"username": USERNAME, "password_file": str(secret)},
        "profile": {"version": 2, "base": "iaso"},
        "fleet": {"state_dir": str(work / "state"), "delivery": {
            "route": "icinga2", "host": "iaso-fleet-lab",
            "icinga2": {"url": instance.url, "ca_file": str(instance.ca),
                        "username": FLEET_USER, "password_file": str(fleet_secret)},
            "per_vm": {"hosts_file": str(hosts_file)}}}}}}))
    validated = instance.validate()
    assert validated.returncode == 0, validated.stdout[-3000:]
    assert f"Instantiated {len(GROUPS) + len(vms) + 5} Services" in validated.stdout, \
        validated.stdout[-3000:]
    instance.start()
    instance.vms = vms  # type: ignore[attr-defined]
    instance.kinds = kinds  # type: ignore[attr-defined]
    instance.config = config  # type: ignore[attr-defined]
    try:
        yield instance
    finally:
        instance.stop()
        play(simulator, {})


def test_ok_results_reach_every_group_and_vm_host_through_the_api(icinga: Icinga) -> None:
    status = icinga.run_collector(r"^IASO FLEET \w+ - lab: 300 VMs")
    output = status["last_check_result"]["output"]
    assert f"{len(GROUPS) + len(icinga.vms)} results to the core (icinga2)" in output, \
        output  # type: ignore[attr-defined]
    assert FLEET_PASSWORD not in output and PASSWORD not in output
    for group in GROUPS:
        result = icinga.wait("iaso-fleet-lab", f"IASO fleet {group}",
                             rf"^IASO FLEET (OK|WARNING|CRITICAL) - lab {group}: ")
        performance = result["last_check_result"]["performance_data"]
        assert any(str(p).startswith("vms=") or str(p).startswith("'vms'=")
                   for p in performance), performance
        assert result["last_check_result"]["check_source"] == "check_iaso_fleet"
    expected = {HEALTHY: 0, STALE: 2, NEVER: 2, EXCLUDED: 0}
    for name, kind in icinga.vms.items():  # type: ignore[attr-defined]
        result = icinga.wait(name, "IASO backup freshness",
                             rf"^IASO BACKUP FRESHNESS \w+ - {name}: ")
        assert int(result["state"]) == expected[kind], (name, kind, result)


def test_ok_group_services_hang_on_their_collector(icinga: Icinga) -> None:
    found = icinga.api("GET", "/v1/objects/dependencies", {
        "attrs": ["child_host_name", "child_service_name", "parent_host_name",
                  "parent_service_name", "disable_notifications", "states"],
        "filter": 'dependency.parent_service_name == "IASO fleet"'})
    children = {(r["attrs"]["child_host_name"], r["attrs"]["child_service_name"])
                for r in found["results"]}
    assert children == {("iaso-fleet-lab", f"IASO fleet {group}") for group in GROUPS}
    for result in found["results"]:
        assert result["attrs"]["parent_host_name"] == "iaso-lab"
        assert result["attrs"]["disable_notifications"] is True
        assert sorted(result["attrs"]["states"]) == ["OK", "Warning"]


def test_unknown_stalled_collector_turns_results_stale(icinga: Icinga, simulator: Any) -> None:
    fed = r"^IASO FLEET (OK|WARNING|CRITICAL) - lab vmgroup-01: "
    icinga.run_collector(r"^IASO FLEET \w+ - lab: 300 VMs")
    first = icinga.wait("iaso-fleet-lab", "IASO fleet vmgroup-01", fed)
    time.sleep(FRESHNESS * 0.6)
    icinga.run_collector(r"^IASO FLEET \w+ - lab: 300 VMs")
    time.sleep(FRESHNESS * 0.6)   # past the first result's freshness: the second one counts
    still = icinga.service("iaso-fleet-lab", "IASO fleet vmgroup-01")
    assert re.search(fed, still["last_check_result"]["output"]), still
    assert still["last_check"] > first["last_check"]
    play(simulator, {"inventory": INVENTORY,
                     "endpoints": {"vm_list": {"status": 503, "body": "html"}}})
    icinga.run_collector(r"^IASO FLEET CRITICAL - lab: .*/vms answered HTTP 503")
    stale = r"^IASO FLEET UNKNOWN - no result from the fleet collector"
    for group in GROUPS:
        icinga.wait("iaso-fleet-lab", f"IASO fleet {group}", stale, state=3,
                    timeout=FRESHNESS * 4)
    for name in icinga.vms:  # type: ignore[attr-defined]
        icinga.wait(name, "IASO backup freshness",
                    r"^IASO BACKUP FRESHNESS UNKNOWN - no result from the fleet collector",
                    state=3, timeout=FRESHNESS * 4)
    play(simulator, {"inventory": INVENTORY})


def variant(icinga: Icinga, directory: Path, **changes: Any) -> Path:
    """The fixture's configuration with other Icinga 2 delivery settings and its own state."""
    data = yaml.safe_load(icinga.config.read_text())  # type: ignore[attr-defined]
    fleet = data["environments"]["lab"]["fleet"]
    fleet["state_dir"] = str(directory / "state")
    fleet["delivery"]["icinga2"].update(changes.pop("icinga2", {}))
    fleet["delivery"].update(changes)
    path = directory / "iaso.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_untrusted_certificate_sends_nothing(icinga: Icinga, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "other-ca")   # a CA that did not sign the API's certificate
    before = icinga.service("iaso-fleet-lab", "IASO fleet vmgroup-02").get("last_check")
    config = variant(icinga, tmp_path, icinga2={"ca_file": str(stranger)})
    outcome = fleet_probe.run(["-C", str(config), "-E", "lab", "-t", "30"])
    assert outcome.code == 3, outcome.output
    # Same issuer name, another key: OpenSSL finds the chain's own CA untrusted (or, without
    # key identifiers to tell them apart, the trusted namesake's signature wrong).
    assert outcome.first_line in (
        f"IASO FLEET UNKNOWN - lab: Icinga 2 API at {icinga.url}: TLS failure: " + reason
        for reason in ("self-signed certificate in the chain",
                       "certificate not accepted (certificate signature failure)")), \
        outcome.output
    assert FLEET_PASSWORD not in outcome.output
    assert icinga.service("iaso-fleet-lab", "IASO fleet vmgroup-02").get("last_check") == before


def test_warn_result_for_an_object_the_core_lacks_is_refused_and_named(
        icinga: Icinga, tmp_path: Path) -> None:
    known = list(icinga.vms)  # type: ignore[attr-defined]
    ghost = next(n for n in fleet_kinds_of(icinga) if n not in known)
    hosts_file = tmp_path / "vm-hosts"
    hosts_file.write_text("\n".join([*known, ghost]) + "\n")
    config = variant(icinga, tmp_path, per_vm={"hosts_file": str(hosts_file)})
    outcome = fleet_probe.run(["-C", str(config), "-E", "lab", "-t", "30", "-w", "100",
                               "-c", "100"])
    assert outcome.code == 1, outcome.output
    assert f"1 results refused by the core (e.g. {ghost}!IASO backup freshness: No objects " \
           "found" in outcome.first_line, outcome.output
    assert f"{len(GROUPS) + len(known)} results to the core (icinga2)" in outcome.first_line


def fleet_kinds_of(icinga: Icinga) -> List[str]:
    return sorted(icinga.kinds)  # type: ignore[attr-defined]
