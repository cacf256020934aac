"""Judging one VM, a group and the fleet (libiaso/fleet/freshness.py), the fleet section of the
configuration, the texts handed to a core, and the two Nagios delivery formats at their limits.

Times come from an injected ``now``; thresholds default to the field practice the issue names
(Checkmk's Veeam client check: WARNING past 30 h, CRITICAL past 48 h).
"""
from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

from libiaso.config.fleet_settings import FleetSettings, GroupRule
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline
from libiaso.errors import ConfigError, DeliveryError
from libiaso.fleet.delivery import CommandFile, SpoolDirectory, nagios_escaped
from libiaso.fleet.freshness import Judge, core_safe, judge
from libiaso.fleet.inventory import EXCLUDED, PROTECTED, UNPROTECTED, Vm, Vocabulary
from libiaso.fleet.passive import PassiveResult, group_result, vm_result
from libiaso.states import State

NOW = 1_800_000_000.0
HOUR = 3600.0
RULE = GroupRule()
WORDS = Vocabulary()


def vm(success_hours_ago: Optional[float], *, status: str = "Completed", reason: str = "",
       protection: str = PROTECTED, last_hours_ago: Optional[float] = None, group: str = "g",
       problem: str = "", name: str = "vm-1") -> Vm:
    success = None if success_hours_ago is None else NOW - success_hours_ago * HOUR
    last = success if last_hours_ago is None else NOW - last_hours_ago * HOUR
    return Vm(name, name, group, success, last, status, reason, protection, problem)


@pytest.mark.parametrize("machine, kind, state", [
    (vm(2), "ok", State.OK),
    (vm(29.9), "ok", State.OK),
    (vm(30.1), "warning", State.WARNING),
    (vm(47.9), "warning", State.WARNING),
    (vm(48.1), "critical", State.CRITICAL),
    (vm(None, status="NEVER_BACKED_UP"), "never", State.CRITICAL),
    (vm(5, status="Failed", reason="quiesce", last_hours_ago=1), "failed", State.WARNING),
    (vm(5, status="COMPLETED_WITH_ERRORS", last_hours_ago=1), "failed", State.WARNING),
    (vm(5, status="Failed", last_hours_ago=9), "ok", State.OK),
    (vm(50, status="Killed", last_hours_ago=1), "critical", State.CRITICAL),
    (vm(500, protection=EXCLUDED), "excluded", State.OK),
    (vm(None, protection=UNPROTECTED), "unprotected", State.OK),
    (vm(-0.2), "ok", State.OK),
    (vm(-2), "invalid", State.WARNING),
    (vm(3, last_hours_ago=-5), "invalid", State.WARNING),
    (vm(3, problem="field 'x' unusable"), "invalid", State.WARNING),
], ids=["ok-fresh", "ok-just-under-30h", "warn-past-30h", "warn-just-under-48h",
        "crit-past-48h", "crit-never-backed-up", "warn-last-backup-failed",
        "warn-commvault-completed-with-errors", "ok-failure-older-than-the-success",
        "crit-stale-and-failing", "ok-excluded-not-judged", "ok-unprotected-not-judged",
        "ok-within-the-clock-tolerance", "warn-good-backup-in-the-future",
        "warn-last-backup-in-the-future", "warn-unusable-field"])
def test_one_vm(machine: Vm, kind: str, state: State) -> None:
    verdict = judge(machine, RULE, WORDS, NOW, future_tolerance=900)
    assert (verdict.kind, verdict.state) == (kind, state)


def test_ok_severities_and_group_overrides(tmp_path: Path) -> None:
    settings = fleet_settings(tmp_path, {
        "never": "warning", "unprotected": "critical",
        "groups": {"slow": {"warning_hours": 72, "critical_hours": 96, "failed": "ignore"}}})
    judged = Judge(settings, NOW)
    assert judged.verdict(vm(None, group="fast")).state is State.WARNING
    assert judged.verdict(vm(None, protection=UNPROTECTED, group="fast")).state is State.CRITICAL
    assert judged.verdict(vm(60, group="fast")).state is State.CRITICAL
    assert judged.verdict(vm(60, group="slow")).state is State.OK
    assert judged.verdict(vm(80, group="slow")).state is State.WARNING
    assert judged.verdict(vm(5, status="Failed", last_hours_ago=1, group="slow")).state \
        is State.OK
    assert judged.verdict(vm(None, group="slow")).state is State.WARNING   # inherited
    report = judged.report()
    assert report.groups["fast"].state is State.CRITICAL
    assert report.groups["slow"].state is State.WARNING
    assert report.critical_vms == 2 and report.fleet.total == 7


def test_ok_worst_offenders_are_bounded_and_worst_first() -> None:
    judged = Judge(FleetSettings(), NOW, keep=3)
    for hours in (31, 49, 200, 60, 35, 2):
        judged.verdict(vm(hours, name=f"vm-{hours}"))
    judged.verdict(vm(None, name="vm-never"))
    worst = [v.vm.name for v in judged.report().fleet.worst()]
    assert worst == ["vm-never", "vm-200", "vm-60"]


def test_ok_share_counts_only_the_judged_vms() -> None:
    judged = Judge(FleetSettings(), NOW)
    for machine in [vm(100)] + [vm(1)] * 3 + [vm(1, protection=EXCLUDED)] * 6:
        judged.verdict(machine)
    assert judged.report().critical_share() == 25.0


def test_ok_vocabularies_of_both_contracts() -> None:
    for word in ("Failed", "FAILED", "Failed to Start", "FAILED_TO_START", "Killed",
                 "Completed w/ one or more errors", "COMPLETED_WITH_ERRORS", "SYSTEM_FAILED"):
        assert WORDS.failed(word), word
    for word in ("Completed", "COMPLETED", "COMPLETED_WITH_WARNINGS", "", "NEVER_BACKED_UP"):
        assert not WORDS.failed(word), word
    assert WORDS.protection("NOT_PROTECTED", "EXCLUDED_SLA") == EXCLUDED
    assert WORDS.protection("excluded", "") == EXCLUDED
    assert WORDS.protection("NOT_PROTECTED", "MISSED_SLA") == UNPROTECTED
    assert WORDS.protection("PENDING", "YET_TO_BE_PROTECTED") == PROTECTED   # never backed up
    assert WORDS.protection("PROTECTED", "MET_SLA") == PROTECTED
    assert WORDS.protection("something new", "") == PROTECTED
    assert Vocabulary({"failed": ["Abgebrochen"]}).failed("abgebrochen")


# --- the configuration -------------------------------------------------------------------------


def fleet_settings(directory: Path, fleet: Dict[str, Any]) -> FleetSettings:
    path = directory / "iaso.yaml"
    path.write_text(yaml.safe_dump({"environments": {"lab": {
        "base_url": "https://iaso.example.net/api", "fleet": fleet}}}))
    return load_config(str(path)).environment("lab").fleet


@pytest.mark.parametrize("fleet, words", [
    ({"warning_hours": 50}, "critical_hours (48) is below warning_hours (50)"),
    ({"groups": {"g": {"critical_hours": 10}}}, "fleet.groups.g: critical_hours (10) is below"),
    ({"never": "page"}, "fleet.never: expected one of critical, warning, ignore"),
    ({"group_by": "tags"}, "fleet.group_by: expected one of group, plan, company"),
    ({"delivery": {"route": "spool"}}, "fleet.delivery.spool_dir: route spool needs spool_dir"),
    ({"delivery": {"route": "nsca"}}, "expected one of none, spool, command_file, icinga2"),
    ({"delivery": {"per_vm": {}}}, "give exactly one of hosts_file and objects_cache"),
    ({"delivery": {"host": "iaso;prod"}}, "cannot name an object in a core"),
    ({"delivery": {"icinga2": {"url": "http://icinga:5665", "username": "u",
                               "password_file": "p"}}}, "expected an https:// URL"),
    ({"delivery": {"icinga2": {"url": "https://icinga:5665", "username": "u",
                               "password": "secret"}}}, "password_file: is required"),
    ({"delivery": {"icinga2": {"url": "https://icinga:5665", "username": "u",
                               "password_file": "p", "concurrency": 64}}}, "at most 16"),
    ({"typo": 1}, "fleet: unknown key: typo"),
], ids=["unknown-warning-above-critical", "unknown-group-override-inverted",
        "unknown-severity-word", "unknown-group-by-field", "unknown-route-without-its-path",
        "unknown-route", "unknown-per-vm-without-host-source", "unknown-host-name-a-core-refuses",
        "unknown-icinga-over-http", "unknown-icinga-password-in-file",
        "unknown-icinga-too-many-connections", "unknown-misspelt-key"])
def test_unknown_fleet_section_errors_name_the_key(fleet: Dict[str, Any], words: str,
                                                   tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        fleet_settings(tmp_path, fleet)


def test_ok_fleet_defaults_and_relative_paths(tmp_path: Path) -> None:
    settings = fleet_settings(tmp_path, {"delivery": {
        "route": "icinga2", "icinga2": {"url": "https://icinga:5665/", "username": "u",
                                        "password_file": "secrets/icinga", "ca_file": "ca.pem"},
        "per_vm": {"hosts_file": "vm-hosts"}}})
    assert settings.rule == GroupRule(30.0, 48.0, "critical", "warning", "ignore", "ignore")
    assert settings.state_dir == "/var/lib/iaso-probes"
    icinga = settings.delivery.icinga2
    assert icinga is not None and icinga.url == "https://icinga:5665"
    assert icinga.credentials.password_file == str(tmp_path / "secrets" / "icinga")
    assert icinga.ca_file == str(tmp_path / "ca.pem")
    assert settings.delivery.per_vm is not None
    assert settings.delivery.per_vm.hosts_file == str(tmp_path / "vm-hosts")
    assert settings.delivery.host_for("lab") == "iaso-fleet-lab"


# --- texts for a core --------------------------------------------------------------------------


def test_ok_names_and_texts_from_the_api_are_made_safe_for_every_core() -> None:
    assert core_safe("gold;tier|1\n$(reboot)!x", 100) == "gold_tier_1___reboot__x"
    assert core_safe("  a   b  ", 100) == "a b"
    judged = Judge(FleetSettings(), NOW)
    evil = vm(60, group="prod;1|x\r\nPROCESS_HOST_CHECK_RESULT;h;0;ok", status="Failed",
              reason="disk C:\\ full; see|log\nPROCESS_SERVICE_CHECK_RESULT;x;y;0;z",
              name="vm-evil\u2028;|")
    verdict = judged.verdict(evil)
    [tally] = judged.report().groups.values()
    group = group_result(tally, "lab", "iaso-fleet-lab", "IASO fleet ")
    single = vm_result(verdict, "vm-evil", "IASO backup freshness", RULE)
    for result in (group, single):
        text = result.plugin_output()
        first, *long = text.split("\n")
        assert ";" not in result.output + "".join(result.long)
        assert "|" not in result.output and all("|" not in line for line in result.long)
        assert first.count("|") == 1 and "\r" not in text and "\u2028" not in text
        assert all(not line.startswith("PROCESS_") for line in long)
    assert group.service == "IASO fleet prod_1_x__PROCESS_HOST_CHECK_RESULT_h_0_ok"


def test_ok_escaping_as_nagios_unescapes() -> None:
    # What a real Nagios 4 made of these (tests/test_fleet_nagios.py reads them back):
    # "\\" became "\", "\n" a new line of long output.
    assert nagios_escaped("C:\\dir\nnext") == "C:\\\\dir\\nnext"
    assert nagios_escaped("ends with \\") == "ends with /"   # never joined to the next line


def result(state: State = State.OK, long: int = 0, host: str = "h") -> PassiveResult:
    return PassiveResult(host, "IASO fleet g", state, "IASO FLEET OK - lab g: fine",
                         ("'ok'=1;;;0;1",), tuple(f"line {n} " + "x" * 90 for n in range(long)))


def test_ok_command_lines_fit_one_atomic_write() -> None:
    line = CommandFile.line(result(long=200), 1_800_000_000)
    assert len(line) <= select.PIPE_BUF
    assert line.startswith(b"[1800000000] PROCESS_SERVICE_CHECK_RESULT;h;IASO fleet g;0;IASO FLEET")
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert b"\\nline 0 " in line and b"line 199 " not in line   # long output dropped, last first
    short = CommandFile.line(result(long=2), 1_800_000_000)
    assert short.endswith(b"\\nline 1 " + b"x" * 90 + b"\n")


def test_ok_command_file_lines_arrive_whole(tmp_path: Path) -> None:
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    received: List[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as reader:
            received.extend(reader.read().splitlines())

    thread = threading.Thread(target=read)
    thread.start()
    results = [result(State.WARNING, long=3, host=f"h{n}") for n in range(500)]
    for _ in range(50):   # the reader must have the FIFO open first
        try:
            delivered = CommandFile(str(fifo)).deliver(results, Deadline(10), 1_800_000_000)
            break
        except DeliveryError:
            time.sleep(0.05)
    thread.join(10)
    assert len(delivered.sent) == 500 and not delivered.left
    assert [line.split(b";")[1] for line in received] == [f"h{n}".encode() for n in range(500)]


def test_unknown_command_file_nobody_reads(tmp_path: Path) -> None:
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    with pytest.raises(DeliveryError, match=r"cannot be written: no core reads it \(is the core "
                                            r"running\?\)"):
        CommandFile(str(fifo)).deliver([result()], Deadline(10), NOW)
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(DeliveryError, match="is not a FIFO"):
        CommandFile(str(plain)).deliver([result()], Deadline(10), NOW)
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "socket"))
        listening.listen()
        with pytest.raises(DeliveryError, match="is not a FIFO"):
            CommandFile(str(tmp_path / "socket")).deliver([result()], Deadline(10), NOW)


def test_ok_spool_file_appears_whole_under_a_core_name(tmp_path: Path) -> None:
    SpoolDirectory(str(tmp_path)).deliver([result(), result(State.CRITICAL, host="h2")],
                                          Deadline(10), NOW)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[1] == names[0] + ".ok"
    assert len(names[0]) == 7 and names[0].startswith("c")   # what the reaper picks up
    text = (tmp_path / names[0]).read_text()
    assert text.startswith(f"### Active Check Result File ###\nfile_time={int(NOW)}\n\n")
    assert text.count("### Nagios Service Check Result ###") == 2
    assert "host_name=h2\nservice_description=IASO fleet g\n" in text
    assert "return_code=2\n" in text and (tmp_path / names[1]).read_text() == ""


def test_unknown_spool_directory_missing_or_not_writable(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="cannot be used: No such file or directory"):
        SpoolDirectory(str(tmp_path / "absent")).deliver([result()], Deadline(10), NOW)
    (tmp_path / "file").write_text("")
    with pytest.raises(DeliveryError, match="is not a directory this user may write in"):
        SpoolDirectory(str(tmp_path / "file")).deliver([result()], Deadline(10), NOW)
