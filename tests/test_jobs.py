"""The outcome table, job verdicts and the follower's economy of requests."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest
from conftest import play, write_config

from libiaso.api.answers import JobStatus
from libiaso.api.client import IasoClient
from libiaso.config.settings import JobSettings, load_config
from libiaso.deadline import Deadline
from libiaso.jobs.calls import start_backup
from libiaso.jobs.follower import JobFollower
from libiaso.jobs.outcomes import OutcomeTable, judge
from libiaso.jobs.track import JobTrack

SETTINGS = JobSettings(stall_warning=100, stall_critical=200, pending_warning=50)


@pytest.mark.parametrize("status, category", [
    ("Completed", "ok"), ("completed", "ok"), ("Completed w/ one or more warnings", "warning"),
    ("Completed w/ one or more errors", "warning"), ("Failed", "critical"),
    ("Failed to Start", "critical"), ("Killed", "critical"), ("Interrupted", "critical"),
    ("Abnormal Terminated Cleanup", "critical"), ("Running", "running"), ("Waiting", "waiting"),
    ("Pending", "waiting"), ("Queued", "waiting"), ("Suspended", "waiting"),
    ("Exploded", None), ("  Completed   w/ one or more   warnings ", "warning"),
])
def test_ok_default_outcome_table(status: str, category: Any) -> None:
    assert OutcomeTable().category(status) == category


def test_ok_outcome_table_overrides() -> None:
    table = OutcomeTable({"Completed w/ one or more errors": "critical", "Archived": "ok"})
    assert table.category("Completed w/ one or more errors") == "critical"
    assert table.category("archived") == "ok"


def track_at(status: str, percent: float = 50.0, reason: Any = None, now: float = 1000.0,
             changed: float = 1000.0) -> JobTrack:
    track = JobTrack("vm-a", "vm-a", 7, launched_at=now - 300)
    category = OutcomeTable().category(status)
    track.observe(JobStatus(7, "vm-a", status, percent, 300.0, None, reason), changed, category)
    return track


@pytest.mark.parametrize("status, percent, since, state, text", [
    ("Running", 50, 0, 0, "vm-a (job 7): Running at 50 % after 0:05:00"),
    ("Running", 50, 150, 1, "vm-a (job 7): stalled at 50 % for 0:02:30"),
    ("Running", 50, 250, 2, "vm-a (job 7): stalled at 50 % for 0:04:10"),
    ("Pending", 0, 10, 0, "vm-a (job 7): Pending at 0 % after 0:05:00 (tape)"),
    ("Pending", 0, 60, 1, "vm-a (job 7): Pending for 0:01:00 (tape)"),
    ("Completed", 100, 9999, 0, "vm-a (job 7): Completed at 100 % after 0:05:00"),
    ("Failed", 40, 0, 2, "vm-a (job 7): Failed at 40 % after 0:05:00 (tape)"),
    ("Exploded", 40, 0, 3, "vm-a (job 7): unknown job status 'Exploded'"),
], ids=["ok-running", "warn-stalled", "crit-stalled", "ok-pending-briefly",
        "warn-pending-too-long", "ok-completed-long-ago", "crit-failed", "unknown-status"])
def test_job_verdicts(status: str, percent: float, since: float, state: int,
                      text: str) -> None:
    track = track_at(status, percent, reason="tape", changed=1000.0)
    if status in ("Completed", "Failed", "Running"):
        track.reason = None if status != "Failed" else "tape"
    verdict = judge(track, OutcomeTable(), SETTINGS, 1000.0 + since)
    assert (verdict.state, verdict.text) == (state, text)


def test_crit_polling_error_is_reported() -> None:
    track = JobTrack("vm-a", "vm-a", 7, 0.0)
    track.fail("http://x/jobs/status answered HTTP 503", final=False)
    verdict = judge(track, OutcomeTable(), SETTINGS, 10.0)
    assert verdict.state == 2 and verdict.short == "vm-a (http://x/jobs/status answered HTTP 503)"


def test_ok_track_survives_a_round_trip() -> None:
    track = track_at("Running", 42.5)
    again = JobTrack.from_dict(track.to_dict())
    assert again.to_dict() == track.to_dict()
    with pytest.raises(ValueError):
        JobTrack.from_dict({"label": "x"})


# --- the follower against the simulator --------------------------------------------------------

def launched(sim: Any, tmp_path: Path, hosts: List[str], pool_size: int = 2
             ) -> tuple[IasoClient, List[JobTrack]]:
    import time

    config = write_config(tmp_path, sim.url, extra={"jobs": {"pool_size": pool_size}})
    client = IasoClient(load_config(str(config)).environment(None), Deadline(30))
    tracks = []
    for host in hosts:
        tracks.append(JobTrack(host, host, start_backup(client, host, "full"), time.time()))
    return client, tracks


def test_ok_follower_polls_once_an_interval_within_its_pool(sim: Any, tmp_path: Path) -> None:
    play(sim, {"job_speed": 60, "job_duration": 63})   # 1.05 s a job
    lingering = sim.connections   # server-side ends of earlier tests' connections
    client, tracks = launched(sim, tmp_path, [f"vm-{i}" for i in range(6)])
    follower = JobFollower(client, OutcomeTable(), Deadline(20), pool_size=2, interval=0.25,
                           max_interval=1)
    assert follower.follow(tracks)
    assert all(t.status == "Completed" for t in tracks)
    # 1.05 s at one poll each 0.25 s: at most 5 polls a job (4 once scheduling lags push the
    # fourth past the end), none before the first interval; 1.2x that is the ceiling
    assert 6 * 4 <= sim.counters["job_status"] <= 6 * 6
    assert follower.peak_in_flight <= 2
    assert sim.peak_connections - lingering <= 2


def test_ok_follower_retries_a_job_not_yet_visible(sim: Any, tmp_path: Path) -> None:
    play(sim, {"job_speed": 60, "job_duration": 30, "hosts": {"vm-i": {"invisible_polls": 2}}})
    client, tracks = launched(sim, tmp_path, ["vm-i"])
    follower = JobFollower(client, OutcomeTable(), Deadline(20), interval=0.2)
    assert follower.follow(tracks)
    assert tracks[0].status == "Completed" and tracks[0].error is None


def test_ok_follower_backs_off_on_errors_and_recovers(sim: Any, tmp_path: Path) -> None:
    import threading

    play(sim, {"job_speed": 60, "job_duration": 60,
               "endpoints": {"job_status": {"status": 503}}})
    client, tracks = launched(sim, tmp_path, ["vm-a"])
    threading.Timer(1.0, play, (sim, {"job_speed": 60, "job_duration": 60})).start()
    follower = JobFollower(client, OutcomeTable(), Deadline(20), interval=0.1, max_interval=0.8)
    assert follower.follow(tracks)
    assert tracks[0].status == "Completed" and tracks[0].error is None
    assert sim.counters["job_status"] < 10   # 0.1, 0.2, 0.4, 0.8... not every 0.1 s


def test_unknown_follower_stops_at_the_deadline(sim: Any, tmp_path: Path) -> None:
    import time

    play(sim, {"hosts": {"vm-s": {"outcome": "stuck", "at_percent": 10}}})
    client, tracks = launched(sim, tmp_path, ["vm-s"])
    follower = JobFollower(client, OutcomeTable(), Deadline(1.5), interval=0.2)
    started = time.monotonic()
    assert not follower.follow(tracks)
    assert time.monotonic() - started < 1.5
    assert tracks[0].status == "Running" and not tracks[0].finished
