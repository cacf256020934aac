"""iaso-profile-doctor against the simulator: read-only unless told, secrets masked, every
configured field accounted for, a verdict per probe, short enough for a ticket."""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, List

import pytest
from click.testing import CliRunner
from conftest import PASSWORD, play, write_config

from libiaso.doctor.command import main
from libiaso.redaction import encoded_forms


def doctor(config: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["-C", str(config), "-t", "20", *args])


def verdicts(output: str) -> List[str]:
    return output.split("Verdicts:", 1)[1].split("\n")


def test_ok_read_only_walk_launches_nothing(sim: Any, config: Path) -> None:
    result = doctor(config)
    assert result.exit_code == 0, result.output
    assert sim.counters["backup"] == 0 and sim.counters["restore"] == 0
    assert "backup      skipped: not launched" in result.output
    for line in ("check_iaso_life            OK", "check_iaso_auth            OK",
                 "check_iaso_backup          -         not tried"):
        assert line in result.output
    assert len(result.output.encode()) < 6000 and len(result.output.splitlines()) < 60


def test_ok_the_password_never_shows_in_any_form(sim: Any, tmp_path: Path) -> None:
    play(sim, {"credentials": {"username": "nagios", "password": PASSWORD,
                               "password_encoding": "base64"}})
    config = write_config(tmp_path, sim.url,
                          extra={"profile": {"auth": {"password_encoding": "base64"}}})
    result = doctor(config)
    assert result.exit_code == 0, result.output
    assert '"password": "***"' in result.output
    assert not any(form in result.output for form in encoded_forms(PASSWORD))
    assert base64.b64encode(PASSWORD.encode()).decode() not in result.output
    assert not any(token in result.output for token in sim.issued)


def test_ok_launch_needs_the_flag_and_a_named_host(sim: Any, config: Path) -> None:
    refused = doctor(config, "--host", "vm-test-01")
    assert refused.exit_code == 2 and "add --launch" in refused.output
    assert sim.counters["backup"] == 0
    launched = doctor(config, "--launch", "--host", "vm-test-01")
    assert launched.exit_code == 0, launched.output
    assert sim.counters["backup"] == 1 and sim.counters["job_status"] == 1
    assert "check_iaso_backup          OK        started job" in launched.output


def test_crit_a_field_the_api_does_not_have_is_named_with_its_configured_path(
        sim: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim.url, extra={"profile": {
        "version": 2, "endpoints": {"life": {"fields": {"status_code": "result.code"}}}}})
    result = doctor(config)
    assert result.exit_code == 1
    assert "field status_code = result.code: NOT FOUND" in result.output
    assert "check_iaso_life            CRITICAL  the answer has no field 'result.code'" in \
        result.output


@pytest.mark.parametrize("scenario,probe,state", [
    ({"components": {"commserve": "unhealthy"}}, "check_iaso_health", "CRITICAL"),
    ({"reject_logins": True}, "check_iaso_auth", "CRITICAL"),
    ({"endpoints": {"life": {"status": 503}}}, "check_iaso_life", "CRITICAL"),
], ids=["crit-component", "crit-login", "crit-life"])
def test_crit_faults_show_in_the_verdicts(scenario: Any, probe: str, state: str, sim: Any,
                                          config: Path) -> None:
    play(sim, scenario)
    result = doctor(config)
    assert result.exit_code == 1
    assert any(line.strip().startswith(f"{probe}") and f" {state} " in line
               for line in verdicts(result.output)), result.output


def test_unknown_configuration_error_exits_2_on_stderr(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = CliRunner().invoke(main, ["-C", str(missing)])
    assert result.exit_code == 2 and "does not exist" in result.output
