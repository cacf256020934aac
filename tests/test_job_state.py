"""The state a stateful job check keeps: one file per target, kept inside state_dir, refused
when it records the impossible, and never half written whatever signal comes."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import yaml
from conftest import play, write_config
from job_harness import (
    HOUR,
    Clocked,
    clock_the_probes,
    job_config,
    run,
    state_files,
    state_of,
)

from libiaso.deadline import Deadline
from libiaso.jobs.round import StateFileError
from libiaso.jobs.state_file import StateFile, state_path

SLOW = {"job_speed": 1, "job_duration": 4 * HOUR}


@pytest.fixture
def clocked(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Clocked:
    return clock_the_probes(sim, monkeypatch)


# --- item 11: every identifying field is in the key ----------------------------------------------


def test_ok_same_host_at_two_levels_keeps_two_states(sim: Any, tmp_path: Path) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    full = run("backup", config, "-H", "vm-a", "-l", "full")
    incremental = run("backup", config, "-H", "vm-a", "-l", "incremental")
    assert "launched 1 backup" in full.first_line and "launched 1 backup" in \
        incremental.first_line, incremental.output
    assert sim.counters["backup"] == 2
    names = sorted(p.name for p in state_files(tmp_path))
    assert len(names) == 2 and names[0].startswith("backup-host-vm-a-full-") and \
        names[1].startswith("backup-host-vm-a-incremental-"), names
    jobs = {state_of(p)["identity"][1]: state_of(p)["tracks"][0]["job_id"]
            for p in state_files(tmp_path)}
    assert run("backup", config, "-H", "vm-a", "-l", "full").first_line.split(" | ")[0] \
        .endswith("1 in progress: vm-a 0 %")
    assert jobs["full"] != jobs["incremental"] and sim.counters["backup"] == 2


def test_ok_ad_hoc_restores_to_two_destinations_keep_two_states(sim: Any,
                                                                tmp_path: Path) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    common = ("-H", "vm-a", "--file", "hosts", "--path", "/etc")
    run("restore", config, *common, "--destination", "/tmp/one")
    run("restore", config, *common, "--destination", "/tmp/two")
    again = run("restore", config, *common, "--destination", "/tmp/one")
    assert sim.counters["restore"] == 2 and "1 in progress" in again.first_line, again.output
    identities = sorted(tuple(state_of(p)["identity"]) for p in state_files(tmp_path))
    assert identities == [("vm-a", "hosts", "/etc", "/tmp/one"),
                          ("vm-a", "hosts", "/etc", "/tmp/two")]


def test_ok_a_set_member_changing_level_is_a_new_target(sim: Any, tmp_path: Path,
                                                        clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": 60})
    config = job_config(tmp_path, sim)
    run("backup", config, "-S", "linux")
    clocked.advance(120)
    assert "3 of 3 backups completed" in run("backup", config, "-S", "linux").first_line
    document = yaml.safe_load(config.read_text())
    document["environments"]["lab"]["backup_sets"]["linux"][0]["level"] = "full"
    config.write_text(yaml.safe_dump(document))
    changed = run("backup", config, "-S", "linux")
    assert "launched 3 backups" in changed.first_line and sim.counters["backup"] == 6


def test_ok_state_kept_under_the_old_name_is_adopted_once(sim: Any, tmp_path: Path) -> None:
    """Version 1.x kept `-H vm-a` under backup-host-vm-a.json: its job is followed, not
    launched again, and the old file goes."""
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    run("backup", config, "-H", "vm-a", "-l", "full")
    [current] = state_files(tmp_path)
    old_fields = ("label", "hostname", "job_id", "launched_at", "status", "percent", "elapsed",
                  "phase", "reason", "polls", "last_seen_at", "percent_changed_at",
                  "waiting_since", "ended_at", "error", "error_is_final")
    track = {k: v for k, v in state_of(current)["tracks"][0].items() if k in old_fields}
    legacy = current.parent / "backup-host-vm-a.json"
    legacy.write_text(json.dumps({"format": 1, "kind": "backup", "target": "host-vm-a",
                                  "tracks": [track]}))
    current.unlink()
    adopted = run("backup", config, "-H", "vm-a", "-l", "full")
    assert "1 in progress: vm-a" in adopted.first_line, adopted.output
    assert sim.counters["backup"] == 1 and not legacy.exists()
    assert state_of(state_files(tmp_path)[0])["tracks"][0]["job_id"] == track["job_id"]
    other_level = run("backup", config, "-H", "vm-a", "-l", "incremental")
    assert "launched 1 backup" in other_level.first_line   # adopted once, by one service


# --- item 12: nothing from the API or the configuration climbs out of state_dir ---------------


@pytest.mark.parametrize("environment", ["..", ".", "../..", "a/../../b", ".hidden", "x" * 300])
def test_ok_environment_names_stay_inside_state_dir(environment: str, sim: Any,
                                                    tmp_path: Path) -> None:
    play(sim, SLOW)
    state_dir = tmp_path / "jail" / "state"
    config = write_config(tmp_path, sim.url, env=environment, extra={
        "jobs": {"state_dir": str(state_dir)}})
    outcome = run("backup", config, "-H", "vm-a")
    assert outcome.code == 0, outcome.output
    outside = [p for p in (tmp_path / "jail").rglob("*") if state_dir not in p.parents
               and p != state_dir]
    assert outside == []
    written = [p for p in state_dir.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} == {".json", ".lock"}
    assert all(not part.startswith(".") for p in written
               for part in p.relative_to(state_dir).parts)


@pytest.mark.parametrize("name", ["..", "../../escape", "a/b", "\u202e", "x" * 500])
def test_ok_target_names_never_make_a_path(name: str, tmp_path: Path) -> None:
    path = Path(state_path(str(tmp_path), "..", "backup", f"set-{name}"))
    assert path.parent.parent == tmp_path and path.name.endswith(".json")
    assert len(path.name) < 120 and path.parent.name != ".."


def test_ok_distinct_names_reduced_alike_keep_distinct_files(tmp_path: Path) -> None:
    one = state_path(str(tmp_path), "lab", "backup", "set-a/b")
    two = state_path(str(tmp_path), "lab", "backup", "set-a_b")
    three = state_path(str(tmp_path), "lab", "backup", "set-a:b")
    assert len({one, two, three}) == 3


# --- item 13: impossible values in the state file ---------------------------------------------


def corrupt(field: str, value: Any) -> Callable[[Dict[str, Any], float], None]:
    def change(document: Dict[str, Any], now: float) -> None:
        document["tracks"][0][field] = value(now) if callable(value) else value
    return change


CORRUPTIONS = {
    "ended-in-the-future": (corrupt("ended_at", lambda now: now + 86400),
                            "job 1: 'ended_at' is 86400 s in the future of this host's clock"),
    "launched-in-the-future": (corrupt("launched_at", lambda now: now + 3600),
                               "job 1: 'launched_at' is 3600 s in the future"),
    "launched-nan": (corrupt("launched_at", float("nan")), "'launched_at' is not a time"),
    "launched-negative": (corrupt("launched_at", -5), "'launched_at' is not a time"),
    "launched-as-text": (corrupt("launched_at", "yesterday"), "'launched_at' is not a time"),
    "seen-before-launch": (lambda d, now: d["tracks"][0].update(
        last_seen_at=d["tracks"][0]["launched_at"] - 86400), "'last_seen_at' is before the launch"),
    "percent-infinite": (corrupt("percent", float("inf")), "'percent' is not a number"),
    "percent-above-100": (corrupt("percent", 250), "'percent' is not a number from 0 to 100"),
    "polls-negative": (corrupt("polls", -1), "'polls' is not a whole number"),
    "polls-boolean": (corrupt("polls", True), "'polls' is not a whole number"),
    "status-a-number": (corrupt("status", 42), "'status' is not a str"),
    "job-id-dot-dot": (corrupt("job_id", ".."), "'job_id' starts with a dot"),
    "job-id-a-path": (corrupt("job_id", "7/../../admin"), "'job_id' holds characters"),
    "job-id-missing": (corrupt("job_id", None), "'job_id' is missing"),
    "label-with-newline": (corrupt("label", "vm-a\nIASO BACKUP OK"), "'label' is not a one-line"),
    "tracks-not-a-list": (lambda d, now: d.update(tracks={"0": 1}), "'tracks' is not a list"),
    "previous-not-a-list": (lambda d, now: d.update(previous="x"), "'previous' is not a list"),
    "kind-of-restore": (lambda d, now: d.update(kind="restore"), "it is a 'restore' state"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS), ids=[f"unknown-{c}" for c in
                                                           sorted(CORRUPTIONS)])
def test_unknown_impossible_state_names_the_file_and_launches_nothing(
        case: str, sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    change, reason = CORRUPTIONS[case]
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    run("backup", config, "-H", "vm-a")
    [path] = state_files(tmp_path)
    clocked.advance(30 * 86400)   # due again long since: only the state file stops a launch
    document = state_of(path)
    change(document, clocked.now)
    path.write_text(json.dumps(document))
    outcome = run("backup", config, "-H", "vm-a")
    assert outcome.code == 3, outcome.output
    assert outcome.first_line.startswith(f"IASO BACKUP UNKNOWN - lab: state file {path} is "
                                         "corrupt ("), outcome.output
    assert reason in outcome.first_line, outcome.output
    assert sim.counters["backup"] == 1 and sim.counters["job_status"] == 0


def test_unknown_future_times_are_refused_even_when_every_job_has_ended(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    play(sim, {"job_speed": 1, "job_duration": 60})
    config = job_config(tmp_path, sim)
    run("backup", config, "-H", "vm-a")
    clocked.advance(120)
    assert "completed" in run("backup", config, "-H", "vm-a").first_line
    [path] = state_files(tmp_path)
    document = state_of(path)
    for key in ("launched_at", "ended_at", "last_seen_at", "percent_changed_at"):
        document["tracks"][0][key] += 10 * 86400
    path.write_text(json.dumps(document))
    clocked.advance(2 * 86400)
    outcome = run("backup", config, "-H", "vm-a")
    assert outcome.code == 3 and "in the future of this host's clock" in outcome.first_line


# --- item 14: the state write is never cut by SIGALRM or SIGTERM --------------------------------


@pytest.mark.parametrize("signum, stopped", [
    (signal.SIGTERM, "stopped by SIGTERM after"),
    (signal.SIGALRM, "stopped at the probe's deadline"),
], ids=["unknown-sigterm-inside-the-write", "unknown-deadline-inside-the-write"])
def test_signal_inside_the_state_write_keeps_the_job_ids(
        signum: int, stopped: str, sim: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    real_fsync = os.fsync
    fired = []
    writes = []

    def fsync_with_a_signal(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            writes.append(fd)
            # The first write records the launches before they are made; the second, the
            # first job's ID as soon as it is known: the signal lands in the middle of that one.
            if len(writes) == 2 and not fired:
                fired.append(fd)
                os.kill(os.getpid(), signum)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_with_a_signal)
    interrupted = run("backup", config, "-S", "linux")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert fired, "the write was reached"
    assert interrupted.code == 3 and stopped in interrupted.first_line, interrupted.output
    [path] = state_files(tmp_path)
    kept = [t["job_id"] for t in state_of(path)["tracks"]]
    assert len(kept) == 3 and isinstance(kept[0], int) and kept[1:] == [None, None], kept
    assert sim.counters["backup"] == 1, "the run stopped once the write it was in had ended"
    assert not list(path.parent.glob("*.tmp"))
    followed = run("backup", config, "-S", "linux")   # the two never made are made now
    assert followed.code == 0 and sim.counters["backup"] == 3, followed.output
    again = run("backup", config, "-S", "linux")
    assert again.code == 0 and "3 in progress" in again.first_line, again.output
    assert f"(job {kept[0]})" in again.output
    assert sim.counters["backup"] == 3 and sim.counters["job_status"] == 1 + 3


def test_ok_held_signals_arrive_after_the_block(tmp_path: Path) -> None:
    deadline = Deadline(30)
    deadline.arm()
    try:
        order = []
        with pytest.raises(Exception, match="stopped by SIGTERM"):
            with deadline.held():
                os.kill(os.getpid(), signal.SIGTERM)
                order.append("block finished")
        assert order == ["block finished"]
    finally:
        deadline.disarm()


def test_unknown_unwritable_state_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "lab" / "backup-set-x.json"
    with StateFile(str(path), Deadline(5)) as state:
        with pytest.raises(StateFileError, match="cannot be written: a value is not finite"):
            state.write({"tracks": [{"launched_at": float("nan")}]})
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGALRM],
                         ids=["unknown-sigterm", "unknown-deadline"])
def test_unknown_signal_while_recording_the_launches_launches_nothing(
        signum: int, sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    real_fsync = os.fsync
    fired = []

    def fsync_with_a_signal(fd: int) -> None:
        if not fired and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            fired.append(fd)
            os.kill(os.getpid(), signum)   # in the write that precedes the launches
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_with_a_signal)
    interrupted = run("backup", config, "-S", "linux")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert fired and interrupted.code == 3, interrupted.output
    assert sim.counters["backup"] == 0


def test_unknown_state_that_cannot_be_written_launches_nothing(sim: Any, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    import errno

    play(sim, SLOW)
    config = job_config(tmp_path, sim)
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    for _ in range(3):
        outcome = run("backup", config, "-S", "linux")
        assert outcome.code == 3 and "No space left on device" in outcome.first_line
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert sim.counters["backup"] == 0
