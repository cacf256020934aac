"""End to end in a real Icinga 2 (Debian's icinga2), on what docs/integration.md and
docs/icinga2.md installed (tests/operator_host.py): the object files as copied to
/etc/icinga2/conf.d, the documented constants, the shipped etc/iaso.yaml with only its base URLs
and accounts set, qualif's password in the daemon's environment. Results are read back through
livestatus, what Thruk reads."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from conftest import USERNAME, play, require_core
from icinga_core import BINARY, Icinga
from operator_host import CONFIG, Installed, require_namespaces

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("lab", "qualif", "prod")
HEALTHY = {"job_speed": 60, "job_duration": 60}
INSTALLED = Path("/etc/icinga2/conf.d")   # where docs/icinga2.md copies the files
NAMES = ("iaso-commands.conf", "iaso-services.conf", "iaso-hosts.conf")

require_core(BINARY, "icinga2-bin icinga2-common")
require_namespaces()

pytestmark = pytest.mark.integration
__all__ = ["Icinga"]   # the harness, as other tests import it from here


def documented_constants() -> Dict[str, str]:
    page = (ROOT / "docs" / "icinga2.md").read_text()
    return dict(re.findall(r'^const (\w+) = "(.*)"$', page, re.M))


@pytest.fixture(scope="module")
def icinga(installed: Installed, simulator: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Icinga]:
    play(simulator, HEALTHY)
    constants = documented_constants()
    assert constants["IasoProbesConfig"] == CONFIG
    instance = Icinga(tmp_path_factory.mktemp("icinga2"), Path(constants["IasoProbesConfig"]),
                      probes_dir=Path(constants["IasoProbesDir"]), objects=INSTALLED,
                      names=NAMES, enter=installed.host.enter(),
                      environment=installed.core_environment)
    validated = instance.validate()
    assert validated.returncode == 0, validated.stdout[-3000:]
    assert "Instantiated 3 Hosts" in validated.stdout
    assert "Instantiated 18 Services" in validated.stdout
    assert "Instantiated 15 Dependencies" in validated.stdout
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        play(simulator, {})


def test_ok_every_host_up_and_every_service_green(icinga: Icinga) -> None:
    expected = {
        "IASO life": r"^IASO LIFE OK - {env}: answered in",
        "IASO health": r"^IASO HEALTH OK - {env}: all 8 components healthy",
        "IASO response time": r"^IASO RESPONSE TIME OK - {env}: life answered 3 times",
        "IASO auth": rf"^IASO AUTH OK - {{env}}: login as {USERNAME} accepted",
        "IASO backup linux-vms": r"^IASO BACKUP OK - {env}: (launched \d backups?|\d of \d "
                                 r"backups?|\d in progress)",
        "IASO restore hosts-file": r"^IASO RESTORE OK - {env}: (launched 1 restore|1 of 1)",
    }
    for env in ENVIRONMENTS:
        host = icinga.wait_for_host(f"iaso-{env}", 0, rf"^IASO LIFE OK - {env}: answered")
        assert "time=" in host["perf_data"]
        for service, output in expected.items():
            status = icinga.wait_for(service, 0, output.format(env=env), host=f"iaso-{env}")
            assert status["perf_data"], status
    assert len(icinga.all_services()) == 18


def test_crit_component_down_is_seen(icinga: Icinga, simulator: Any) -> None:
    play(simulator, dict(HEALTHY, components={"index_db": "unhealthy"}))
    status = icinga.wait_for("IASO health", 2, r"1 of 8 components unhealthy: index_db",
                             host="iaso-qualif")
    assert "CRITICAL index_db: unhealthy" in status["long_plugin_output"]
    assert icinga.hosts()["iaso-qualif"]["state"] == 0
    play(simulator, HEALTHY)
    icinga.wait_for("IASO health", 0, r"all 8 components healthy", host="iaso-qualif")


def test_crit_api_down_is_a_host_down(icinga: Icinga, simulator: Any) -> None:
    down = {role: {"status": 503, "body": "html"} for role in
            ("life", "health", "login", "backup", "job_status", "restore")}
    play(simulator, dict(HEALTHY, endpoints=down))
    for env in ENVIRONMENTS:
        icinga.wait_for_host(f"iaso-{env}", 1, rf"^IASO LIFE CRITICAL - {env}: .*HTTP 503")
        icinga.wait_for("IASO life", 2, r"HTTP 503", host=f"iaso-{env}")
    play(simulator, HEALTHY)
    for env in ENVIRONMENTS:
        icinga.wait_for_host(f"iaso-{env}", 0, rf"^IASO LIFE OK - {env}")
