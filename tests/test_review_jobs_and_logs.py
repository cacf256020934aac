"""Review: job checks against an API as this release now assumes it, and the two logs.

Each case was reproduced against the simulator; each fails today.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
import yaml
from conftest import PASSWORD, ROOT, USERNAME, write_config

from iaso_probes.check_iaso_backup import probe as backup
from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator


def simulator(**scenario: Any) -> Simulator:
    sim = Simulator(scenario_from({"credentials": {"username": USERNAME, "password": PASSWORD},
                                   **scenario}))
    sim.start("127.0.0.1", 0)
    return sim


def configured(tmp_path: Path, url: str, logging: Optional[Dict[str, str]] = None,
               **extra: Any) -> Path:
    config = write_config(tmp_path, url, extra={"jobs": {"state_dir": str(tmp_path / "state"),
                                                         "poll_interval": 1}, **extra})
    if logging:
        document = yaml.safe_load(config.read_text())
        document["logging"] = logging
        config.write_text(yaml.safe_dump(document))
    return config


def test_ok_default_profile_against_an_api_without_a_job_listing_still_launches(
        tmp_path: Path) -> None:
    """The version-1 defaults (contracts.V1_DEFAULT) now include job_list, so a site that
    upgrades with no profile section, against an IASO that has no GET /jobs (the calls of
    domain.md have none), gets CRITICAL '/jobs answered HTTP 404' at every run and no backup is
    ever launched; `job_list: null` is refused in a version-1 profile ('method: is required').
    Issue 13 asks for the single-poller behaviour to be kept."""
    sim = simulator(endpoints={"job_list": {"status": 404}})
    try:
        outcome = backup.run(["-C", str(configured(tmp_path, sim.url)), "-H", "vm-a"])
    finally:
        sim.stop()
    assert outcome.code == 0, outcome.output
    assert "launched 1 backup: vm-a" in outcome.first_line


def test_ok_launch_refused_once_by_a_passing_503_is_tried_again_next_run(tmp_path: Path) -> None:
    """A launch that failed (here one 503; equally a launch whose answer never came, the job
    perhaps started) is a finished track (JobTrack.not_started): no relaunch, no listing asked,
    CRITICAL for the whole relaunch interval (a day), its ticket open, though the API was back
    five minutes later. The class of issue 9 item 8, for the launch call."""
    sim = simulator(endpoints={"backup": {"status": 503}, "job_list": {"body": {"json": {
        "jobs": []}}}})
    config = configured(tmp_path, sim.url)
    try:
        first = backup.run(["-C", str(config), "-H", "vm-a"])
        sim.set_scenario(scenario_from({"credentials": {"username": USERNAME,
                                                        "password": PASSWORD}}))
        second = backup.run(["-C", str(config), "-H", "vm-a"])
    finally:
        sim.stop()
    assert first.code == 2, first.output
    assert second.code == 0 and "launched 1 backup" in second.first_line, second.output


def test_unknown_status_with_a_line_break_forges_no_application_log_line(tmp_path: Path) -> None:
    """The follower logs the API's status text as it came (follower.py 'job %s of %s: %s'): a
    line break in it writes a line of the API's choosing into the application log."""
    forged = "2030-01-01 00:00:00,000 1 WARNING iaso.client: FORGED BY THE API"
    sim = simulator(endpoints={
        "job_status": {"body": {"json": {"status": f"Running\n{forged}",
                                         "percentComplete": 5}}},
        "job_list": {"body": {"json": {"jobs": []}}}})
    log = tmp_path / "application.log"
    config = configured(tmp_path, sim.url, {"application": str(log), "level": "info"})
    try:
        first = backup.run(["-C", str(config), "-H", "vm-a"])
        second = backup.run(["-C", str(config), "-H", "vm-a"])
    finally:
        sim.stop()
    assert first.code == 0 and second.code == 3, second.output
    lines = log.read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.startswith("2030-01-01")], lines


def test_crit_sixty_failed_backups_with_commvault_length_reasons_are_still_recorded(
        tmp_path: Path) -> None:
    """A results-log record over RECORD_LIMIT (60,000 bytes) is dropped whole (results/log.py),
    and the note saying so is appended after the long output, where the 4,000-byte output bound
    cuts it: the worst run of a large set leaves no trace in ELK or iaso-report."""
    reason = ("Error Code: [19:1131] Description: the datastore snapshot of the virtual machine "
              "could not be consolidated. Source: mediaagent-02, Process: vsbkp. " * 5)[:600]
    hosts = {f"vm-{i:03d}": {"outcome": "failed", "at_percent": 40, "reason": reason}
             for i in range(60)}
    sim = simulator(hosts=hosts, job_speed=1000, job_duration=10)
    results = tmp_path / "results.log"
    config = configured(tmp_path, sim.url, {"results": str(results)}, backup_sets={
        "large": [{"hostname": host, "level": "incremental"} for host in hosts]})
    try:
        outcome = backup.run(["-C", str(config), "-S", "large", "--wait", "-t", "20"])
    finally:
        sim.stop()
    assert outcome.code == 2, outcome.output
    assert results.exists(), "no results-log record for this run"
    record = json.loads(results.read_text(encoding="utf-8").splitlines()[-1])
    assert record["iaso"]["state"]["name"] == "CRITICAL"


def python39() -> Optional[str]:
    """A Python 3.9 (RHEL 9's), found as .ci/run finds it."""
    pattern = os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")
    found = [shutil.which("python3.9"), *sorted(glob.glob(pattern))]
    for candidate in found:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info"
                                         "[:2] == (3, 9)"], capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize("text", ["2024-05-01T10:00:00.1234567Z",      # .NET's round-trip "o"
                                  "2024-05-01T10:00:00.12Z",
                                  "2024-05-01T10:00:00+0000"])
def test_ok_iso8601_times_read_on_rhel9_python_as_on_the_development_one(text: str) -> None:
    """`from: iso8601` uses datetime.fromisoformat, which accepts these on Python 3.11 but not
    on 3.9, the probes' target (RHEL 9): a profile that passes every test here reads
    'should be an ISO 8601 time' (CRITICAL) in production."""
    interpreter = python39()
    if interpreter is None:
        pytest.skip("no Python 3.9 on this machine")
    from libiaso.api.answers import _time

    here = _time(text, "iso8601")
    site = [p for p in sys.path if p.endswith("site-packages")]
    done = subprocess.run([interpreter, "-c", "import sys; from libiaso.api.answers import _time;"
                           " print(repr(_time(sys.argv[1], 'iso8601')))", text],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *site])))
    assert done.returncode == 0, done.stderr[-300:]
    assert float(done.stdout) == pytest.approx(here)
