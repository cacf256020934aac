"""check_iaso_backup and check_iaso_restore against the simulator: every outcome, both modes."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from conftest import ROOT, play
from job_harness import (
    FAST,
    HOUR,
    PROBES,
    Clocked,
    clock_the_probes,
    hanging,
    host,
    job_config,
    perfdata,
    run,
    status_body,
)

STATES = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}


@pytest.fixture
def clocked(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Clocked:
    return clock_the_probes(sim, monkeypatch)


@dataclass
class Case:
    id: str
    probe: str
    args: Tuple[str, ...]
    first_line: str
    scenario: Dict[str, Any] = field(default_factory=dict)
    jobs: Dict[str, Any] = field(default_factory=dict)
    long_output: str = ""
    perf: Dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return STATES[self.id.split("-", 1)[0]]


WAIT = ("--wait", "-t", "8")
CASES: List[Case] = [
    Case("ok-backup-completes", "backup", ("-H", "vm-a", *WAIT),
         r"^IASO BACKUP OK - lab: 1 of 1 backup completed", FAST,
         long_output=r"\nOK vm-a \(job \d+\): Completed at 100 % after 0:01:0\d"),
    Case("warn-backup-completed-with-warnings", "backup", ("-H", "vm-w", *WAIT),
         r"^IASO BACKUP WARNING - lab: 1 of 1 backup need attention: vm-w \(Completed w/ one "
         r"or more warnings\)", host("vm-w", outcome="warnings")),
    Case("warn-backup-completed-with-errors-by-default", "backup", ("-H", "vm-e", *WAIT),
         r"WARNING - lab: 1 of 1 backup need attention: vm-e \(Completed w/ one or more errors\)",
         host("vm-e", outcome="errors")),
    Case("crit-backup-completed-with-errors-when-configured", "backup", ("-H", "vm-e", *WAIT),
         r"CRITICAL - lab: 1 of 1 backup failed: vm-e \(Completed w/ one or more errors\)",
         host("vm-e", outcome="errors"),
         jobs={"outcomes": {"Completed w/ one or more errors": "critical"}}),
    Case("crit-backup-failed", "backup", ("-H", "vm-b", *WAIT),
         r"^IASO BACKUP CRITICAL - lab: 1 of 1 backup failed: vm-b \(Failed\) \| ",
         host("vm-b", outcome="failed", at_percent=40, reason="disk full"),
         long_output=r"\nCRITICAL vm-b \(job \d+\): Failed at 40 % after \S+ \(disk full\)"),
    Case("crit-backup-killed", "backup", ("-H", "vm-k", *WAIT), r"failed: vm-k \(Killed\)",
         host("vm-k", outcome="killed", at_percent=10)),
    Case("crit-backup-failed-to-start", "backup", ("-H", "vm-f", *WAIT),
         r"failed: vm-f \(Failed to Start\)", host("vm-f", outcome="failed_to_start")),
    Case("crit-backup-one-of-three-failed", "backup", ("-S", "linux", *WAIT),
         r"^IASO BACKUP CRITICAL - lab: 1 of 3 backups failed: vm-b \(Failed\) \| ",
         host("vm-b", outcome="failed", at_percent=40),
         long_output=r"\nCRITICAL vm-b .*\nOK vm-a .*\nOK vm-c ",
         perf={"jobs_critical": "1", "jobs_ok": "2", "jobs_running": "0"}),
    Case("crit-backup-longer-than-critical", "backup", ("-H", "vm-a", "-w", "20", "-c", "30",
                                                        *WAIT),
         r"CRITICAL - lab: vm-a ran 6\d s \(outside range 0:30\) \| .*dur_vm_a=6\ds;20;30;0", FAST),
    # An unknown status is polled until the deadline, as any job in progress: 3 s, not 8.

    Case("unknown-backup-unknown-status", "backup", ("-H", "vm-a", "--wait", "-t", "3"),
         r"UNKNOWN - lab: 1 of 1 backup in an unknown state: vm-a \(unknown status 'Exploded'\)",
         status_body(hostname="vm-a", status="Exploded", percentComplete=50,
                     elapsedSeconds=3)),
    Case("unknown-backup-still-running-at-deadline", "backup", ("-H", "vm-s", "--wait", "-t",
                                                                "2"),
         r"UNKNOWN - lab: 1 of 1 backup in an unknown state: vm-s \(still Running\)",
         host("vm-s", outcome="stuck", at_percent=30),
         long_output=r"still Running at the probe's deadline \(-t 2\); not cancelled"),
    Case("crit-backup-refused", "backup", ("-H", "vm-a", *WAIT),
         r"failed: vm-a \(backup not started: \S+/backups answered HTTP 400: simulated HTTP 400",
         dict(FAST, endpoints={"backup": {"status": 400}})),
    Case("crit-backup-no-job-id", "backup", ("-H", "vm-a", *WAIT),
         r"failed: vm-a \(backup not started: the answer has no field 'jobId'\)",
         dict(FAST, endpoints={"backup": {"body": {"json": {"started": True}}}})),
    Case("crit-backup-not-started", "backup", ("-H", "vm-a", *WAIT),
         r"did not start \(the API answered started: false\)",
         dict(FAST, endpoints={"backup": {"body": {"json": {"started": False, "jobId": 7}}}})),
    Case("crit-backup-status-for-another-job", "backup", ("-H", "vm-a", *WAIT),
         r"critical: vm-a \(status unreadable: the status answer is for job 1, not job \d+\)",
         status_body(jobId=1, hostname="vm-a", status="Running", percentComplete=5)),
    Case("crit-backup-status-for-another-host", "backup", ("-H", "vm-a", *WAIT),
         r"the status answer for job \d+ is for host vm-z, not vm-a",
         status_body(hostname="vm-z", status="Running", percentComplete=5)),
    Case("crit-backup-percent-above-100", "backup", ("-H", "vm-a", *WAIT),
         r"job \d+ is 130 % complete, outside 0\.\.100",
         status_body(hostname="vm-a", status="Running", percentComplete=130)),
    Case("crit-backup-negative-percent", "backup", ("-H", "vm-a", *WAIT),
         r"job \d+ is -5 % complete, outside 0\.\.100",
         status_body(hostname="vm-a", status="Running", percentComplete=-5)),
    Case("crit-backup-status-missing", "backup", ("-H", "vm-a", *WAIT),
         r"the answer has no field 'status'", status_body(hostname="vm-a", percentComplete=5)),
    Case("ok-backup-job-invisible-on-first-polls", "backup", ("-H", "vm-i", *WAIT),
         r"^IASO BACKUP OK - lab: 1 of 1 backup completed", host("vm-i", invisible_polls=2)),
    Case("unknown-backup-no-target", "backup", ("--wait",),
         r"^IASO BACKUP UNKNOWN - lab: choose exactly one of -H HOST, -S SET and -A$"),
    Case("unknown-backup-unknown-set", "backup", ("-S", "windows"),
         r"unknown backup set 'windows'; configured: linux$"),
    Case("ok-restore-completes", "restore", ("-R", "hosts-file", *WAIT),
         r"^IASO RESTORE OK - lab: 1 of 1 restore completed", FAST,
         perf={"duration": "60s", "percent": "100.0%", "total": r"\ds", "auth_time": r"\S+s",
               "launch_time": r"\S+s", "poll_time": r"\S+s"}),
    Case("ok-restore-from-options", "restore", ("-H", "vm-a", "--file", "passwd", "--path",
                                                "/etc", "--destination", "/tmp/r", *WAIT),
         r"^IASO RESTORE OK - lab: 1 of 1 restore completed", FAST),
    Case("crit-restore-failed", "restore", ("-R", "hosts-file", *WAIT),
         r"^IASO RESTORE CRITICAL - lab: 1 of 1 restore failed: vm-a \(Failed\)",
         host("vm-a", outcome="failed", at_percent=70)),
    Case("unknown-restore-incomplete-options", "restore", ("-H", "vm-a", "--file", "x"),
         r"UNKNOWN - lab: give -R NAME, or all of -H, --file, --path and --destination$"),
    Case("unknown-restore-unknown-test", "restore", ("-R", "nope"),
         r"unknown restore test 'nope'; configured: hosts-file$"),
    # --wait and a status request that never comes back: no complete answer is CRITICAL.
    Case("crit-backup-status-hangs-with-wait", "backup", ("-H", "vm-a", "--wait", "-t", "2"),
         r"^IASO BACKUP CRITICAL - lab: 1 of 1 backup critical: vm-a \(no status answer\)",
         hanging("job_status", FAST),
         long_output=r"\nCRITICAL vm-a \(job \d+\): no complete status answer within -t 2: no "
                     r"complete answer before the probe's deadline"),
    Case("crit-restore-status-hangs-with-wait", "restore", ("-R", "hosts-file", "--wait", "-t",
                                                            "2"),
         r"^IASO RESTORE CRITICAL - lab: 1 of 1 restore critical: vm-a \(no status answer\)",
         hanging("job_status", FAST)),
    Case("crit-backup-status-not-json", "backup", ("-H", "vm-a", *WAIT),
         r"critical: vm-a \(status unreadable: \S+/jobs/status answered HTTP 200 with a body "
         r"that is HTML\)", dict(FAST, endpoints={"job_status": {"body": "html"}})),
    # Job IDs go back into requests: a hostile one is refused at launch, never sent.
    *[Case(f"crit-backup-job-id-{name}", "backup", ("-H", "vm-a", *WAIT),
           r"failed: vm-a \(backup not started: the backup of vm-a started with an unusable job "
           rf"ID \(field 'jobId' {re.escape(why)}",
           dict(FAST, endpoints={"backup": {"body": {"json": {"started": True, "jobId": job}}}}))
      for name, job, why in (
          ("dot-dot", "..", "starts with a dot"),
          ("slash", "41/../../admin", "holds characters other than"),
          ("newline", "41\nX-Injected: 1", "holds characters other than"),
          ("huge", "4" * 65, "is longer than 64 characters"),
          ("negative", -1, "is out of range"),
          ("empty", "", "is empty"))],
    Case("unknown-backup-hostname-with-a-slash", "backup", ("-H", "../vm-a"),
         r"UNKNOWN - lab: -H/-l: hostname '../vm-a' reads as a path$"),
    Case("unknown-backup-level-dot-dot", "backup", ("-H", "vm-a", "-l", ".."),
         r"UNKNOWN - lab: -H/-l: level of vm-a '..' reads as a path$"),
    Case("unknown-restore-destination-with-a-control-character", "restore",
         ("-H", "vm-a", "--file", "hosts", "--path", "/etc", "--destination", "/tmp/\x1b[2J"),
         r"UNKNOWN - lab: destination holds a control character$"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_job_probe_outcome(case: Case, sim: Any, tmp_path: Path) -> None:
    play(sim, case.scenario)
    config = job_config(tmp_path, sim, **case.jobs)
    outcome = PROBES[case.probe].run(["-C", str(config), *case.args])
    assert outcome.code == case.code, outcome.output
    assert re.search(case.first_line, outcome.first_line), outcome.output
    if case.long_output:
        assert re.search(case.long_output, outcome.output, re.S), outcome.output
    values = perfdata(outcome.first_line)
    for label, value in case.perf.items():
        assert re.fullmatch(value, values.get(label, "(absent)")), (label, outcome.output)
    labels = re.findall(r"(?:^| )'?([a-z_0-9]+)'?=", outcome.first_line.partition(" | ")[2])
    assert len({label[:19] for label in labels}) == len(labels)
    assert "Traceback" not in outcome.output and len(outcome.output.encode()) < 4096
    if "job-id" in case.id:
        assert sim.counters["job_status"] == 0   # the refused ID was never sent back


def test_ok_long_backup_across_stateful_runs(sim: Any, tmp_path: Path,
                                            clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": HOUR})
    config = job_config(tmp_path, sim)
    first = run("backup", config, "-S", "linux")
    assert first.code == 0 and re.match(
        r"IASO BACKUP OK - lab: launched 3 backups: vm-a \(job \d+\), vm-b \(job \d+\), "
        r"vm-c \(job \d+\) \| ", first.first_line), first.output
    clocked.advance(600)
    middle = run("backup", config, "-S", "linux")
    assert middle.code == 0 and middle.first_line.startswith(
        "IASO BACKUP OK - lab: 3 in progress: vm-a 16.7 %, vm-b 16.7 %, vm-c 16.7 % | "), \
        middle.output
    assert perfdata(middle.first_line)["jobs_running"] == "3"
    assert perfdata(middle.first_line)["pct_vm_a"] == "16.7%"
    clocked.advance(HOUR - 600)
    done = run("backup", config, "-S", "linux")
    assert done.code == 0 and "3 of 3 backups completed, the last 0:00:00 ago" in \
        done.first_line, done.output
    status_polls = sim.counters["job_status"]
    clocked.advance(600)
    again = run("backup", config, "-S", "linux")
    assert again.code == 0 and "3 of 3 backups completed, the last 0:10:00 ago" in \
        again.first_line
    assert sim.counters["backup"] == 3 and sim.counters["job_status"] == status_polls
    relaunched = run("backup", config, "-S", "linux", "--relaunch-after", "0")
    assert relaunched.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups")
    assert sim.counters["backup"] == 6 and sim.counters["job_status"] == status_polls
    clocked.advance(2 * HOUR)
    run("backup", config, "-S", "linux")
    clocked.advance(24 * HOUR - 2 * HOUR)
    due = run("backup", config, "-S", "linux")   # a day after the last launch
    assert due.first_line.startswith("IASO BACKUP OK - lab: launched 3 backups"), due.output
    assert sim.counters["backup"] == 9


def test_warn_then_crit_backup_stalls_across_runs(sim: Any, tmp_path: Path,
                                                  clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": HOUR,
               "hosts": {"vm-s": {"outcome": "stuck", "at_percent": 30}}})
    config = job_config(tmp_path, sim)   # stall limits by default: 30 min, 1 h
    assert run("backup", config, "-H", "vm-s").code == 0
    clocked.advance(300)
    assert run("backup", config, "-H", "vm-s").code == 0
    clocked.advance(900)                 # 30 % reached at 18 min; seen at 20 min
    reached = run("backup", config, "-H", "vm-s")
    assert reached.code == 0 and "vm-s 30 %" in reached.first_line, reached.output
    clocked.advance(1799)
    assert run("backup", config, "-H", "vm-s").code == 0
    clocked.advance(1)
    warned = run("backup", config, "-H", "vm-s")
    assert warned.code == 1, warned.output
    assert "WARNING - lab: 1 of 1 backup need attention: vm-s (stalled at 30 % for 0:30:00)" \
        in warned.first_line, warned.output
    clocked.advance(1800)
    critical = run("backup", config, "-H", "vm-s")
    assert critical.code == 2 and "CRITICAL - lab: 1 of 1 backup critical: vm-s (stalled at " \
        "30 % for 1:00:00)" in critical.first_line, critical.output


def test_warn_backup_pending_past_its_limit(sim: Any, tmp_path: Path,
                                           clocked: Clocked) -> None:
    play(sim, host("vm-p", outcome="pending", reason="no drive available"))
    config = job_config(tmp_path, sim)   # pending_warning by default: 15 min
    assert run("backup", config, "-H", "vm-p").code == 0
    clocked.advance(300)
    first_poll = run("backup", config, "-H", "vm-p")
    assert first_poll.code == 0 and "vm-p Pending" in first_poll.first_line
    clocked.advance(899)
    assert run("backup", config, "-H", "vm-p").code == 0
    clocked.advance(1)
    pending = run("backup", config, "-H", "vm-p")
    assert pending.code == 1, pending.output
    assert "need attention: vm-p (Pending for 0:15:00)" in pending.first_line
    assert "Pending for 0:15:00 (no drive available)" in pending.output


def test_ok_token_expiring_mid_follow_relogs_in_once(sim: Any, tmp_path: Path) -> None:
    play(sim, {"job_speed": 30, "job_duration": 60, "token_lifetime": 1.5})
    config = job_config(tmp_path, sim)
    outcome = run("backup", config, "-S", "linux", "--wait", "-t", "10")
    assert outcome.code == 0, outcome.output
    assert sim.counters["login"] == 2


def test_ok_restore_across_stateful_runs(sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": 60})
    config = job_config(tmp_path, sim)
    assert run("restore", config, "-R", "hosts-file").first_line.startswith(
        "IASO RESTORE OK - lab: launched 1 restore: vm-a (job ")
    clocked.advance(120)
    done = run("restore", config, "-R", "hosts-file")
    assert done.code == 0 and "1 of 1 restore completed" in done.first_line, done.output
    values = perfdata(done.first_line)
    assert (values["total"], values["duration"]) == ("120s", "60s"), done.output


def test_unknown_corrupt_state_file_never_relaunches(sim: Any, tmp_path: Path) -> None:
    play(sim, FAST)
    config = job_config(tmp_path, sim)
    state = tmp_path / "state" / "lab" / "backup-host-vm-a.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"format": 1, "tracks": [{"label": ')
    outcome = run("backup", config, "-H", "vm-a")
    assert outcome.code == 3
    assert outcome.first_line == (f"IASO BACKUP UNKNOWN - lab: state file {state} is corrupt "
                                  "(not JSON); check the job by hand, then delete the file to "
                                  "start afresh")
    assert sim.counters["backup"] == 0


def test_unknown_state_directory_not_usable_never_launches(sim: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = job_config(tmp_path, sim, state_dir=str(blocker / "state"))
    outcome = run("backup", config, "-H", "vm-a")
    assert outcome.code == 3
    assert outcome.first_line.startswith(f"IASO BACKUP UNKNOWN - lab: state directory "
                                         f"{blocker}/state/lab is not usable: ")
    assert sim.counters["backup"] == 0


def test_ok_concurrent_runs_launch_once(sim: Any, tmp_path: Path) -> None:
    play(sim, dict(FAST, endpoints={"backup": {"latency": 0.3}}))
    config = job_config(tmp_path, sim)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = [subprocess.Popen([sys.executable, "-m", "iaso_probes.check_iaso_backup", "-C",
                              str(config), "-S", "linux"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outputs = [r.communicate(timeout=30) for r in runs]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], outputs
    assert all(err == "" for _, err in outputs)
    assert sum("launched 3 backups" in out for out, _ in outputs) == 1, outputs
    assert sim.counters["backup"] == 3
