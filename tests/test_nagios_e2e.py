"""End to end in a real Nagios 4 core (Debian's nagios4): the shipped etc/nagios files, the
probes as the core runs them, dependencies and the service-desk notifications."""
from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import yaml
from conftest import PASSWORD, USERNAME, play, require_core
from nagios_core import BINARY, NagiosCore

ENVIRONMENTS = ("lab", "qualif", "prod")
HEALTHY = {"job_speed": 60, "job_duration": 60}

require_core(BINARY, "nagios4-core")

pytestmark = pytest.mark.integration


def probe_config(work: Path, url: str) -> Path:
    secret = work / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    environments = {name: {
        "base_url": url,
        "credentials": {"username": USERNAME, "password_file": str(secret)},
        "jobs": {"state_dir": str(work / "state"), "poll_interval": 0.5,
                 "backup_interval": 30, "restore_interval": 30},
        "backup_sets": {"linux-vms": [{"hostname": "vm-a", "level": "incremental"},
                                      {"hostname": "vm-b", "level": "full"}]},
        "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                    "source_path": "/etc", "destination": "/tmp/restore"}},
    } for name in ENVIRONMENTS}
    path = work / "iaso.yaml"
    path.write_text(yaml.safe_dump({"environments": environments}))
    return path


@pytest.fixture(scope="module")
def core(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NagiosCore]:
    play(simulator, HEALTHY)
    work = tmp_path_factory.mktemp("nagios")
    nagios = NagiosCore(work, Path(sys.executable).parent, probe_config(work, simulator.url))
    verified = nagios.verify()
    assert "Total Errors:   0" in verified.stdout, verified.stdout[-3000:]
    assert "Total Warnings: 0" in verified.stdout, verified.stdout[-3000:]
    nagios.start()
    try:
        yield nagios
    finally:
        nagios.stop()
        play(simulator, {})


def mails_about(core: NagiosCore, service: str) -> List[str]:
    return [m for m in core.sent_mails() if f"Service: {service}\n" in m]


def test_ok_every_service_green(core: NagiosCore) -> None:
    expected = {
        "IASO life": r"^IASO LIFE OK - {env}: answered in \d\.\d{{3}} s$",
        "IASO health": r"^IASO HEALTH OK - {env}: all 8 components healthy",
        "IASO response time": r"^IASO RESPONSE TIME OK - {env}: life answered 3 times",
        "IASO auth": r"^IASO AUTH OK - {env}: login as nagios accepted",
        "IASO backup linux-vms": r"^IASO BACKUP OK - {env}: (launched 2 backups|2 of 2 backups "
                                 r"completed|2 in progress)",
        "IASO restore hosts-file": r"^IASO RESTORE OK - {env}: ",
    }
    for env in ENVIRONMENTS:
        for service, output in expected.items():
            status = core.wait_for(f"iaso-{env}", service, 0, output=output.format(env=env))
            assert status["performance_data"], (service, status)
    life = core.services()[("iaso-lab", "IASO life")]
    assert re.match(r"size=\d+B;;;0 time=[\d.]+s;2;10;0;20(\.0)?$", life["performance_data"])
    health = core.services()[("iaso-lab", "IASO health")]
    assert "OK commserve: healthy" in health["long_plugin_output"]
    assert core.sent_mails() == []


def test_crit_component_down_opens_one_ticket_then_recovery_closes_it(
        core: NagiosCore, simulator: Any) -> None:
    play(simulator, dict(HEALTHY, components={"commserve": "unhealthy"}))
    core.wait_for("iaso-lab", "IASO health", 2,
                  output=r"^IASO HEALTH CRITICAL - lab: 1 of 8 components unhealthy: commserve")
    problem = _wait_mail(core, "IASO health", "PROBLEM", "lab")
    assert re.search(r"^Subject: \[IASO lab\] PROBLEM iaso-lab/IASO health is CRITICAL "
                     r"\[ticket (\d+)\]$", problem, re.M), problem
    ticket = re.search(r"^X-IASO-Ticket: (\d+)$", problem, re.M).group(1)  # type: ignore[union-attr]
    assert ticket != "0"
    assert "To: servicedesk@example.net" in problem
    assert "Summary: IASO HEALTH CRITICAL - lab: 1 of 8 components unhealthy" in problem
    assert "Runbook: https://docs.example.net/iaso-probes/docs/probes/check_iaso_health.md" \
        in problem
    assert "CRITICAL commserve: unhealthy" in problem
    assert PASSWORD not in problem

    play(simulator, HEALTHY)
    core.wait_for("iaso-lab", "IASO health", 0)
    recovery = _wait_mail(core, "IASO health", "RECOVERY", "lab")
    assert f"[ticket {ticket}]" in recovery and f"X-IASO-Ticket: {ticket}" in recovery
    assert len([m for m in mails_about(core, "IASO health") if "Environment: lab" in m]) == 2


def test_crit_api_down_only_life_notifies(core: NagiosCore, simulator: Any) -> None:
    for env in ENVIRONMENTS:
        core.wait_for(f"iaso-{env}", "IASO health", 0)
    before = len(core.sent_mails())
    down = {role: {"status": 503, "body": "html"} for role in
            ("life", "health", "login", "backup", "job_status", "restore")}
    play(simulator, dict(HEALTHY, endpoints=down))
    for env in ENVIRONMENTS:
        core.wait_for(f"iaso-{env}", "IASO life", 2, output=r"answered HTTP 503: HTML page")
    for env in ENVIRONMENTS:
        for service in ("IASO health", "IASO auth", "IASO response time"):
            core.wait_for(f"iaso-{env}", service, 2, output="HTTP 503")
    time.sleep(3)   # time for any notification the core would (wrongly) send
    new = core.sent_mails()[before:]
    assert len(new) == 3 and all("Service: IASO life\n" in m for m in new), new
    assert "Summary: IASO LIFE CRITICAL" in new[0]

    play(simulator, HEALTHY)
    for env in ENVIRONMENTS:
        core.wait_for(f"iaso-{env}", "IASO life", 0)
        core.wait_for(f"iaso-{env}", "IASO health", 0)
    time.sleep(2)
    new = core.sent_mails()[before:]
    recoveries = [m for m in new if "Notification: RECOVERY" in m]
    assert len(recoveries) == 3 and all("Service: IASO life\n" in m for m in recoveries)


def test_crit_failed_backup_opens_a_ticket(core: NagiosCore, simulator: Any) -> None:
    play(simulator, dict(HEALTHY, hosts={"vm-b": {"outcome": "failed", "at_percent": 40}}))
    core.wait_for("iaso-prod", "IASO backup linux-vms", 2,
                  output=r"^IASO BACKUP CRITICAL - prod: 1 of 2 backups failed: vm-b \(Failed\)",
                  timeout=90)
    status = core.services()[("iaso-prod", "IASO backup linux-vms")]
    assert "pct_vm_b=40" in status["performance_data"]
    mail = _wait_mail(core, "IASO backup linux-vms", "PROBLEM", "prod")
    assert "[IASO prod] PROBLEM iaso-prod/IASO backup linux-vms is CRITICAL" in mail
    play(simulator, HEALTHY)


def test_unknown_broken_object_file_is_caught(tmp_path: Path, simulator: Any) -> None:
    objects = tmp_path / "objects"
    shutil.copytree(Path(__file__).resolve().parent.parent / "etc" / "nagios", objects)
    text = (objects / "prod.cfg").read_text().replace("check_command                   iaso_auth",
                                                      "check_command                   iaso_oath")
    (objects / "prod.cfg").write_text(text)
    nagios = NagiosCore(tmp_path / "core", Path(sys.executable).parent,
                        probe_config(tmp_path, simulator.url), objects=objects)
    verified = nagios.verify()
    assert verified.returncode != 0
    assert "iaso_oath" in verified.stdout


def _wait_mail(core: NagiosCore, service: str, kind: str, env: str,
               timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in mails_about(core, service):
            if f"Notification: {kind}\n" in mail and f"Environment: {env}\n" in mail:
                return mail
        time.sleep(0.25)
    raise AssertionError(f"no {kind} mail for {env}/{service}; log:\n" + core.log()[-3000:])
