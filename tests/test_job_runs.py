"""Stateful job checks over many runs of simulated time: a half-working API is never OK for
ever, a reading failure is never final, and a failed outcome outlives the next launch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from conftest import OUTPUTS, ROOT, play
from job_harness import (
    HOUR,
    Clocked,
    clock_the_probes,
    hanging,
    job_config,
    run,
    state_files,
    state_of,
    status_body,
)

SLOW = {"job_speed": 1, "job_duration": 4 * HOUR}
QUICK_T = ("-t", "1")   # a hanging status request costs each run its whole deadline


@pytest.fixture
def clocked(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Clocked:
    return clock_the_probes(sim, monkeypatch)


def expected_silence_state(silence: float) -> int:
    """The rule of docs/state-policy.md with the default stall limits (30 min, 1 h)."""
    return 2 if silence >= HOUR else 1 if silence >= HOUR / 2 else 0


# --- item 6: status requests that hang, run after run -------------------------------------------


@pytest.mark.parametrize("probe, args", [("backup", ("-H", "vm-a")),
                                         ("restore", ("-R", "hosts-file"))])
def test_warn_then_crit_while_status_requests_hang_run_after_run(
        probe: str, args: Tuple[str, ...], sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    assert run(probe, config, *args).code == 0
    clocked.advance(300)
    answered = run(probe, config, *args)
    assert answered.code == 0 and "vm-a 2.1 %" in answered.first_line, answered.output
    play(sim, hanging("job_status", SLOW))
    seen: List[Tuple[float, int]] = []
    for _ in range(6):
        clocked.advance(900)
        asked = sim.counters["job_status"]
        outcome = run(probe, config, *args, *QUICK_T)
        silence = clocked.now - (clocked.start + 300)
        seen.append((silence, outcome.code))
        assert sim.counters["job_status"] == asked + 1, "each run asks again"
        assert outcome.code == expected_silence_state(silence), outcome.output
        assert f"no status answer for {int(silence) // 3600}:{int(silence) % 3600 // 60:02d}:00" \
            in outcome.output, outcome.output
        assert "no complete answer before the probe's deadline (-t 1)" in outcome.output
    assert [code for _, code in seen] == [0, 1, 1, 2, 2, 2]
    play(sim, SLOW)
    clocked.advance(600)
    back = run(probe, config, *args)
    assert back.code == 0 and "vm-a 43.8 %" in back.first_line, back.output
    assert sim.counters[probe] == 1


def test_warn_when_status_requests_time_out(sim: Any, tmp_path: Path,
                                            clocked: Clocked) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    assert run("backup", config, "-H", "vm-a").code == 0
    play(sim, dict(SLOW, endpoints={"job_status": {"latency": 2}}))
    document = yaml.safe_load(config.read_text())
    document["environments"]["lab"]["timeouts"] = {"read": 0.3}
    config.write_text(yaml.safe_dump(document))
    clocked.advance(HOUR / 2)
    slow = run("backup", config, "-H", "vm-a")
    assert slow.code == 1 and "1 of 1 backup need attention: vm-a (no status answer for " \
        "0:30:00)" in slow.first_line, slow.output
    assert "within 0.3 s" in slow.output


def test_crit_when_the_api_is_gone_for_an_hour(sim: Any, tmp_path: Path,
                                               clocked: Clocked) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    assert run("backup", config, "-H", "vm-a").code == 0
    config.write_text(config.read_text().replace(sim.url, "http://127.0.0.1:9/api/v1"))
    states = []
    for _ in range(4):
        clocked.advance(HOUR / 4)
        gone = run("backup", config, "-H", "vm-a")
        states.append(gone.code)
        assert "cannot connect to http://127.0.0.1:9/api/v1/login" in gone.output
    assert states == [0, 1, 1, 2]
    assert sim.counters["backup"] == 1


# --- item 8: an answer that cannot be read is CRITICAL for its run, then polled again ----------


@pytest.mark.parametrize("fault, reason", [
    ({"body": "malformed"}, r"answered HTTP 200 with a body that is not valid JSON"),
    ({"body": {"json": {"hostname": "vm-a", "percentComplete": 5}}},
     r"the answer has no field 'status'"),
    ({"status": 503}, r"answered HTTP 503: simulated HTTP 503"),
], ids=["crit-not-json", "crit-no-status-field", "crit-http-503"])
def test_unreadable_status_is_critical_then_polled_again(
        fault: Dict[str, Any], reason: str, sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    import re

    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    run("backup", config, "-H", "vm-a")
    play(sim, dict(SLOW, endpoints={"job_status": fault}))
    clocked.advance(600)
    bad = run("backup", config, "-H", "vm-a")
    assert bad.code == 2 and re.search(r"1 of 1 backup critical: vm-a \(status unreadable: .*"
                                       + reason, bad.first_line), bad.output
    play(sim, SLOW)
    clocked.advance(600)
    polls = sim.counters["job_status"]
    again = run("backup", config, "-H", "vm-a")
    assert sim.counters["job_status"] == polls + 1, "the next run polls again"
    assert again.code == 0 and "vm-a 8.3 %" in again.first_line, again.output
    clocked.advance(4 * HOUR)
    done = run("backup", config, "-H", "vm-a")
    assert done.code == 0 and "1 of 1 backup completed" in done.first_line
    assert sim.counters["backup"] == 1


# --- item 9: an unknown status is UNKNOWN and polled again --------------------------------------


def test_unknown_status_then_completed(sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    run("backup", config, "-H", "vm-a")
    play(sim, status_body(hostname="vm-a", status="Verifying", percentComplete=99))
    clocked.advance(600)
    odd = run("backup", config, "-H", "vm-a")
    assert odd.code == 3 and "in an unknown state: vm-a (unknown status 'Verifying')" in \
        odd.first_line, odd.output
    clocked.advance(600)
    assert run("backup", config, "-H", "vm-a").code == 3
    play(sim, status_body(hostname="vm-a", status="Completed", percentComplete=100,
                          elapsedSeconds=1300))
    clocked.advance(600)
    done = run("backup", config, "-H", "vm-a")
    assert done.code == 0 and "1 of 1 backup completed" in done.first_line, done.output
    assert sim.counters["job_status"] == 3 and sim.counters["backup"] == 1


# --- item 10: the stall clock starts when the job does -----------------------------------------


def test_ok_long_wait_then_running_at_zero_is_not_a_stall(sim: Any, tmp_path: Path,
                                                          clocked: Clocked) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim, pending_warning=2 * HOUR)
    run("backup", config, "-H", "vm-a")
    play(sim, status_body(hostname="vm-a", status="Pending", percentComplete=0))
    clocked.advance(300)
    assert run("backup", config, "-H", "vm-a").code == 0
    play(sim, status_body(hostname="vm-a", status="Running", percentComplete=0))
    clocked.advance(2400)                  # 40 minutes Pending, then Running at 0 %
    started = run("backup", config, "-H", "vm-a")
    assert started.code == 0 and "vm-a 0 %" in started.first_line, started.output
    clocked.advance(1800)
    stalled = run("backup", config, "-H", "vm-a")
    assert stalled.code == 1 and "vm-a (stalled at 0 % for 0:30:00)" in stalled.first_line


# --- issue 11: a failed outcome stands until the new job has ended ------------------------------


def new_job_of(tmp_path: Path, label: str) -> Any:
    tracks = state_of(state_files(tmp_path)[0])["tracks"]
    return next(t["job_id"] for t in tracks if t["label"] == label)


@pytest.mark.parametrize("outcome, state, word, status, last", [
    ("failed", 2, "failed", "Failed",
     "Failed at 40 % after 0:24:00 (Failure reason: error writing to the MediaAgent library)"),
    ("warnings", 1, "needs attention", "Completed w/ one or more warnings",
     "Completed w/ one or more warnings at 100 % after 1:00:00"),
], ids=["crit-last-backup-failed", "warn-last-backup-warned"])
def test_last_outcome_stands_until_the_new_backup_ends(
        outcome: str, state: int, word: str, status: str, last: str, sim: Any,
        tmp_path: Path, clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": HOUR,
               "hosts": {"vm-b": {"outcome": outcome, "at_percent": 40}}})
    config = job_config(tmp_path, sim)
    run("backup", config, "-S", "linux")
    clocked.advance(2 * HOUR)
    assert run("backup", config, "-S", "linux").code == state
    play(sim, {"job_speed": 1, "job_duration": HOUR})
    clocked.advance(22 * HOUR)             # a day after the launch: launched again
    relaunched = run("backup", config, "-S", "linux")
    assert sim.counters["backup"] == 6
    new = new_job_of(tmp_path, "vm-b")
    summary = {2: "critical", 1: "need attention"}[state]
    assert relaunched.code == state and (
        f"1 of 3 backups {summary}: vm-b (last backup {word}: {status}; new backup job {new} "
        "launched)") in relaunched.first_line, relaunched.output
    clocked.advance(180)
    running = run("backup", config, "-S", "linux")
    assert running.code == state and (
        f"vm-b (last backup {word}: {status}; new backup job {new} at 5 %)"
        in running.first_line), running.output
    assert f"vm-b (job {new}): last backup {word}: {last}; new backup job {new} at 5 %" \
        in running.output
    clocked.advance(HOUR)
    recovered = run("backup", config, "-S", "linux")
    assert recovered.code == 0 and "3 of 3 backups completed" in recovered.first_line, \
        recovered.output
    assert state_of(state_files(tmp_path)[0])["previous"] == []


def test_crit_new_backup_failing_again_reports_the_new_failure(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": HOUR,
               "hosts": {"vm-a": {"outcome": "failed", "at_percent": 40}}})
    config = job_config(tmp_path, sim)
    run("backup", config, "-H", "vm-a")
    clocked.advance(HOUR)
    assert run("backup", config, "-H", "vm-a").code == 2
    play(sim, {"job_speed": 1, "job_duration": HOUR,
               "hosts": {"vm-a": {"outcome": "killed", "at_percent": 10}}})
    clocked.advance(23 * HOUR)
    assert run("backup", config, "-H", "vm-a").code == 2
    clocked.advance(HOUR)
    again = run("backup", config, "-H", "vm-a")
    assert again.code == 2 and "1 of 1 backup failed: vm-a (Killed)" in again.first_line
    assert state_of(state_files(tmp_path)[0])["previous"] == []


def test_ok_last_outcome_ok_is_not_carried(sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": HOUR})
    config = job_config(tmp_path, sim)
    run("restore", config, "-R", "hosts-file")
    clocked.advance(2 * HOUR)
    assert run("restore", config, "-R", "hosts-file").code == 0
    clocked.advance(22 * HOUR)
    relaunched = run("restore", config, "-R", "hosts-file")
    assert relaunched.code == 0 and "launched 1 restore" in relaunched.first_line


def test_crit_last_restore_failed_until_the_new_one_ends(sim: Any, tmp_path: Path,
                                                         clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": HOUR,
               "hosts": {"vm-a": {"outcome": "failed", "at_percent": 70}}})
    config = job_config(tmp_path, sim)
    run("restore", config, "-R", "hosts-file")
    clocked.advance(HOUR)
    assert run("restore", config, "-R", "hosts-file").code == 2
    play(sim, {"job_speed": 1, "job_duration": HOUR})
    relaunched = run("restore", config, "-R", "hosts-file", "--relaunch-after", "0")
    assert relaunched.code == 2 and "1 of 1 restore critical: vm-a (last restore failed: " \
        "Failed; new restore job " in relaunched.first_line, relaunched.output
    clocked.advance(HOUR + 60)
    done = run("restore", config, "-R", "hosts-file")
    assert done.code == 0 and "1 of 1 restore completed" in done.first_line


# --- item 7: SIGTERM while waiting on the API is CRITICAL, and the state is kept ---------------


def terminated_while_polling(sim: Any, config: Path, *args: str) -> Tuple[int, str, str]:
    """Run the backup probe as a core would, and send SIGTERM once it waits for a status."""
    asked = sim.counters["job_status"]
    process = subprocess.Popen([sys.executable, "-m", "iaso_probes.check_iaso_backup", "-C",
                                str(config), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        limit = time.monotonic() + 20
        while sim.counters["job_status"] == asked and time.monotonic() < limit:
            time.sleep(0.01)
        assert sim.counters["job_status"] > asked, "the probe never asked for a status"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    OUTPUTS.extend((out, err))
    return process.returncode, out, err


def test_crit_sigterm_while_waiting_for_a_status_with_wait(sim: Any, tmp_path: Path) -> None:
    play(sim, hanging("job_status", SLOW))
    config = job_config(tmp_path, sim)
    code, out, err = terminated_while_polling(sim, config, "-H", "vm-a", "--wait", "-t", "20")
    assert (code, err) == (2, ""), out
    assert out.startswith("IASO BACKUP CRITICAL - lab: no complete status answer for vm-a: "
                          "stopped by SIGTERM after "), out


def test_crit_sigterm_while_polling_keeps_the_state(sim: Any, tmp_path: Path) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    assert run("backup", config, "-S", "linux").code == 0
    play(sim, hanging("job_status", SLOW))
    code, out, err = terminated_while_polling(sim, config, "-S", "linux", "-t", "20")
    assert (code, err) == (2, ""), out
    assert out.startswith("IASO BACKUP CRITICAL - lab: no complete status answer for vm-a, "
                          "vm-b, vm-c: stopped by SIGTERM after "), out
    tracks = state_of(state_files(tmp_path)[0])["tracks"]
    assert [t["problem_kind"] for t in tracks] == ["no answer"] * 3
    play(sim, SLOW)
    polled = run("backup", config, "-S", "linux")
    assert polled.code == 0 and "3 in progress" in polled.first_line, polled.output
    assert sim.counters["backup"] == 3
