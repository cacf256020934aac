"""Job verdicts, the clocks a job is judged by, and the follower's economy of requests."""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from conftest import ROOT, play, write_config

from libiaso.api.answers import JobStatus
from libiaso.api.client import IasoClient
from libiaso.config.settings import JobSettings, load_config
from libiaso.deadline import Deadline
from libiaso.jobs.calls import start_backup
from libiaso.jobs.follower import JobFollower
from libiaso.jobs.outcomes import OutcomeTable, judge
from libiaso.jobs.track import LAUNCH_CUT, JobTrack
from libiaso.states import State

SETTINGS = JobSettings(stall_warning=100, stall_critical=200, pending_warning=50)
T0 = 1_700_000_000.0
TABLE = OutcomeTable()


def snapshot(status: str, percent: Optional[float] = 50.0, reason: Any = None) -> JobStatus:
    return JobStatus(7, "vm-a", status, percent, 300.0, None, reason)


def seen(track: JobTrack, at: float, status: str, percent: Optional[float] = 50.0,
         reason: Any = None, table: OutcomeTable = TABLE) -> JobTrack:
    track.observe(snapshot(status, percent, reason), at, table.category(status))
    return track


def fresh() -> JobTrack:
    return JobTrack("vm-a", "vm-a", 7, T0 - 300)


# --- the outcome table, as docs/probes/check_iaso_backup.md promises it -------------------------


def documented_outcomes() -> Iterator[Tuple[str, str]]:
    """(status, promised behaviour) for every status the backup page's table names."""
    page = (ROOT / "docs" / "probes" / "check_iaso_backup.md").read_text()
    table = page.split("## Outcomes", 1)[1].split("\n\n", 2)[1]
    for row in table.splitlines()[2:]:
        statuses, promise = (cell.strip() for cell in row.strip("|").split("|"))
        for status in statuses.split(", "):
            yield status, promise


OUTCOMES = list(documented_outcomes())


def test_ok_the_documented_table_names_every_family() -> None:
    promises = {promise.split(" ")[0] for _, promise in OUTCOMES}
    assert {"OK", "WARNING", "CRITICAL", "in", "UNKNOWN,"} <= promises
    assert len(OUTCOMES) >= 14


def outcome_id(status: str, promise: str) -> str:
    word = promise.split(" ")[0]
    state = {"OK": "ok", "WARNING": "warn", "CRITICAL": "crit"}.get(word, "ok-then-warn")
    return f"{state}-{status.lower().replace(' ', '-')}"


DOCUMENTED = [o for o in OUTCOMES if o[0] != "anything else"]


@pytest.mark.parametrize("status, promise", DOCUMENTED, ids=[outcome_id(*o) for o in DOCUMENTED])
def test_job_status_does_what_the_page_promises(status: str, promise: str) -> None:
    track = seen(fresh(), T0, status, 40)
    verdict = judge(track, TABLE, SETTINGS, T0)
    if promise.startswith("in progress"):
        assert not track.finished and verdict.state is State.OK
        later = judge(track, TABLE, SETTINGS, T0 + 250)   # past every limit of SETTINGS
        limit = "stalled" if "stalled" in promise else "pending_warning"
        assert later.state is (State.CRITICAL if limit == "stalled" else State.WARNING), later
    else:
        assert track.finished, "a final status ends the job"
        assert verdict.state is State[promise.split(" ")[0]]
        assert status in verdict.text and verdict.short == f"vm-a ({status})"


@pytest.mark.parametrize("status", ["Exploded", "Completed w/ one or more warnings!",
                                    "Running (phase 3)", "Verified"])
def test_unknown_status_is_quoted_and_polled_again(status: str) -> None:
    track = seen(fresh(), T0, status)
    verdict = judge(track, TABLE, SETTINGS, T0 + 10_000)
    assert verdict.state is State.UNKNOWN and repr(status) in verdict.text
    assert not track.finished, "only a status the table calls final ends a job"
    seen(track, T0 + 600, "Completed", 100)
    assert track.finished and judge(track, TABLE, SETTINGS, T0 + 600).state is State.OK


def test_ok_site_overrides_change_what_a_status_means() -> None:
    table = OutcomeTable({"Completed w/ one or more errors": "critical", "Archived": "ok"})
    errors = seen(fresh(), T0, "Completed w/ one or more errors", 100, table=table)
    archived = seen(fresh(), T0, "archived", 100, table=table)
    assert judge(errors, table, SETTINGS, T0).state is State.CRITICAL
    assert archived.finished and judge(archived, table, SETTINGS, T0).state is State.OK


def test_ok_status_words_are_matched_whatever_their_case_and_spacing() -> None:
    track = seen(fresh(), T0, "  completed   W/ ONE or more   warnings ", 100)
    assert track.finished and judge(track, TABLE, SETTINGS, T0).state is State.WARNING


# --- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status, percent, since, state, text", [
    ("Running", 50, 0, 0, "vm-a (job 7): Running at 50 % after 0:05:00"),
    ("Running", 50, 150, 1, "vm-a (job 7): stalled at 50 % for 0:02:30"),
    ("Running", 50, 250, 2, "vm-a (job 7): stalled at 50 % for 0:04:10"),
    ("Pending", 0, 10, 0, "vm-a (job 7): Pending at 0 % after 0:05:00 (tape)"),
    ("Pending", 0, 60, 1, "vm-a (job 7): Pending for 0:01:00 (tape)"),
    ("Completed", 100, 9999, 0, "vm-a (job 7): Completed at 100 % after 0:05:00"),
    ("Failed", 40, 0, 2, "vm-a (job 7): Failed at 40 % after 0:05:00 (tape)"),
    ("Exploded", 40, 0, 3, "vm-a (job 7): unknown job status 'Exploded': classify it in "
                           "jobs.outcomes"),
], ids=["ok-running", "warn-stalled", "crit-stalled", "ok-pending-briefly",
        "warn-pending-too-long", "ok-completed-long-ago", "crit-failed", "unknown-status"])
def test_job_verdicts(status: str, percent: float, since: float, state: int,
                      text: str) -> None:
    reason = "tape" if status in ("Pending", "Failed") else None
    track = seen(fresh(), T0, status, percent, reason)
    verdict = judge(track, TABLE, SETTINGS, T0 + since)
    assert (verdict.state, verdict.text) == (state, text)


def test_crit_unreadable_status_is_reported_and_polled_again() -> None:
    track = seen(fresh(), T0, "Running", 40)
    track.unreadable("http://x/jobs/status answered HTTP 503")
    verdict = judge(track, TABLE, SETTINGS, T0 + 10)
    assert verdict.state is State.CRITICAL
    assert verdict.short == "vm-a (status unreadable: http://x/jobs/status answered HTTP 503)"
    assert not track.finished
    seen(track, T0 + 20, "Running", 45)
    assert judge(track, TABLE, SETTINGS, T0 + 20).state is State.OK and track.error is None


@pytest.mark.parametrize("silent, state", [(99, State.OK), (100, State.WARNING),
                                           (199, State.WARNING), (200, State.CRITICAL),
                                           (86400 * 3, State.CRITICAL)],
                         ids=["ok-silent-briefly", "warn-silent-past-stall-warning",
                              "warn-silent-below-stall-critical",
                              "crit-silent-past-stall-critical", "crit-silent-for-days"])
def test_unanswered_status_ages_from_the_last_answer(silent: float, state: State) -> None:
    track = seen(fresh(), T0, "Running", 40)
    track.unanswered("no complete answer before the probe's deadline (-t 10)")
    verdict = judge(track, TABLE, SETTINGS, T0 + silent)
    assert verdict.state is state, verdict
    assert verdict.text.startswith("vm-a (job 7): no status answer since ")
    assert "last: Running at 40 % after 0:05:00): no complete answer" in verdict.text


def test_warn_unanswered_keeps_what_the_last_answer_already_said() -> None:
    track = seen(fresh(), T0, "Running", 40)
    seen(track, T0 + 150, "Running", 40)          # stalled for 150 s: WARNING
    track.unanswered("timeout")
    verdict = judge(track, TABLE, SETTINGS, T0 + 160)
    assert verdict.state is State.WARNING
    assert verdict.short == "vm-a (stalled at 40 % for 0:02:30; no status answer for 0:00:10)"


def test_warn_never_answered_ages_from_the_launch() -> None:
    track = fresh()
    track.unanswered("connection refused")
    assert judge(track, TABLE, SETTINGS, T0 - 300 + 99).state is State.OK
    late = judge(track, TABLE, SETTINGS, T0 - 300 + 100)
    assert late.state is State.WARNING and "nothing since the launch" in late.text


def test_crit_launch_failure_is_final() -> None:
    track = JobTrack("vm-a", "vm-a", None, T0)
    track.not_started("backup not started: HTTP 400")
    assert track.finished
    assert judge(track, TABLE, SETTINGS, T0).short == "vm-a (backup not started: HTTP 400)"


# --- the clocks a job is judged by -------------------------------------------------------------


def test_ok_stall_clock_restarts_when_a_job_starts_running() -> None:
    track = seen(fresh(), T0, "Pending", 0)
    seen(track, T0 + 2400, "Running", 0)           # 40 minutes waiting, then running at 0 %
    assert judge(track, TABLE, SETTINGS, T0 + 2400).state is State.OK
    assert judge(track, TABLE, SETTINGS, T0 + 2499).state is State.OK
    stalled = judge(track, TABLE, SETTINGS, T0 + 2500)
    assert stalled.state is State.WARNING and stalled.short == "vm-a (stalled at 0 % for 0:01:40)"


def test_warn_waiting_clock_runs_on_across_waiting_statuses() -> None:
    track = seen(fresh(), T0, "Pending", 0)
    seen(track, T0 + 30, "Queued", 0)
    seen(track, T0 + 50, "Waiting", 0)
    verdict = judge(track, TABLE, SETTINGS, T0 + 50)
    assert verdict.state is State.WARNING and verdict.short == "vm-a (Waiting for 0:00:50)"


def test_ok_waiting_clock_restarts_after_running() -> None:
    track = seen(fresh(), T0, "Pending", 0)
    seen(track, T0 + 40, "Running", 5)
    seen(track, T0 + 45, "Pending", 5)
    assert judge(track, TABLE, SETTINGS, T0 + 90).state is State.OK
    assert judge(track, TABLE, SETTINGS, T0 + 95).state is State.WARNING


def test_crit_percentage_going_back_is_not_taken() -> None:
    track = seen(fresh(), T0, "Running", 60)
    seen(track, T0 + 10, "Running", 40)
    assert track.percent == 60 and not track.finished
    verdict = judge(track, TABLE, SETTINGS, T0 + 10)
    assert verdict.state is State.CRITICAL
    assert verdict.short == "vm-a (status unreadable: job 7 went back from 60 % to 40 %)"


def test_ok_track_survives_a_round_trip() -> None:
    track = seen(fresh(), T0, "Running", 42.5)
    again = JobTrack.from_dict(track.to_dict(), T0, TABLE.category)
    assert again.to_dict() == track.to_dict() and again.category == "running"
    with pytest.raises(ValueError):
        JobTrack.from_dict({"label": "x"}, T0, TABLE.category)


# --- the follower against the simulator --------------------------------------------------------

def launched(sim: Any, tmp_path: Path, hosts: List[str], pool_size: int = 2
             ) -> Tuple[IasoClient, List[JobTrack]]:
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
    play(sim, {"job_speed": 60, "job_duration": 60,
               "endpoints": {"job_status": {"status": 503}}})
    client, tracks = launched(sim, tmp_path, ["vm-a"])
    failures = 4

    def heal_after_failures() -> None:   # the endpoint heals after its fourth failure
        while sim.counters["job_status"] < failures:
            time.sleep(0.01)
        play(sim, {"job_speed": 60, "job_duration": 60})

    healer = threading.Thread(target=heal_after_failures, daemon=True)
    healer.start()
    follower = JobFollower(client, OutcomeTable(), Deadline(20), interval=0.1, max_interval=0.8)
    started = time.monotonic()
    assert follower.follow(tracks)
    assert tracks[0].status == "Completed" and tracks[0].error is None
    # 0.1, 0.2, 0.4, 0.8: four failures take 1.5 s of waiting at least, not 0.4
    assert time.monotonic() - started >= 0.1 + 0.2 + 0.4 + 0.8
    assert sim.counters["job_status"] < failures + 12


def test_crit_follower_records_requests_cut_by_its_deadline(sim: Any, tmp_path: Path) -> None:
    play(sim, {"job_speed": 60, "job_duration": 60, "endpoints": {"job_status": {"hang": True}}})
    client, tracks = launched(sim, tmp_path, ["vm-a", "vm-b"])
    follower = JobFollower(client, OutcomeTable(), Deadline(1.0), interval=0.1)
    started = time.monotonic()
    follower.poll_once(tracks)
    assert time.monotonic() - started < 1.0
    for track in tracks:
        assert track.problem_kind == "no answer" and re.match(
            r"no complete answer before the probe's deadline \(-t 1\)", track.error or "")


def test_unknown_follower_stops_at_the_deadline(sim: Any, tmp_path: Path) -> None:
    play(sim, {"hosts": {"vm-s": {"outcome": "stuck", "at_percent": 10}}})
    client, tracks = launched(sim, tmp_path, ["vm-s"])
    follower = JobFollower(client, OutcomeTable(), Deadline(1.5), interval=0.2)
    started = time.monotonic()
    assert not follower.follow(tracks)
    assert time.monotonic() - started < 1.5
    assert tracks[0].status == "Running" and not tracks[0].finished


class ScriptedFollower(JobFollower):
    """Answers ``answers`` status requests at once with a running job, then lets every later
    request hang until ``release`` is set: what an API does that stops answering mid-run."""

    def __init__(self, answers: int, deadline: Deadline, interval: float = 0.1,
                 pool_size: int = 8) -> None:
        super().__init__(client=None, table=OutcomeTable(), deadline=deadline,  # type: ignore
                         interval=interval, max_interval=interval, pool_size=pool_size)
        self.answers = answers
        self.release = threading.Event()
        self.asked = 0
        self.order: List[str] = []

    def _fetch(self, track: JobTrack) -> Any:
        self.asked += 1
        self.order.append(track.label)
        if self.asked > self.answers:
            self.release.wait(30)
        return JobStatus(track.job_id, track.hostname, "Running", 30.0, 60.0, None, None)


@pytest.mark.parametrize("answers, deadline, kind", [
    pytest.param(3, 1.0, None, id="unknown-poll-cut-pending-less-than-overdue-keeps-last-answer"),
    pytest.param(1, 2.6, "no answer", id="crit-answered-then-pending-past-overdue-is-no-answer"),
    pytest.param(0, 1.0, "no answer", id="crit-never-answered-this-run-is-no-answer"),
])
def test_follower_deadline_cut_blames_the_api_only_when_overdue(
        answers: int, deadline: float, kind: Optional[str]) -> None:
    track = JobTrack("vm-s", "vm-s", 41, time.time() - 60)
    follower = ScriptedFollower(answers, Deadline(deadline))
    try:
        assert not follower.follow([track])
    finally:
        follower.release.set()
    assert follower.asked == answers + 1, "one request left pending at the deadline"
    assert track.problem_kind == kind, track.error
    assert follower.cut_short == (0 if kind else 1)
    assert (track.cut_pending is None) == bool(kind), "a dropped poll is said, not hidden"
    if answers:
        assert track.status == "Running" and track.percent == 30.0


def test_unknown_follower_does_not_blame_a_first_poll_too_late_to_be_answered() -> None:
    """-t 12 and a 10 s interval, in small: the first poll leaves with less than the
    deadline's fair share before the follower stops; cut there, it is no answer of the API's:
    the job is still starting, not unanswered."""
    track = JobTrack("vm-s", "vm-s", 41, time.time())
    follower = ScriptedFollower(0, Deadline(1.0), interval=0.6)
    try:
        assert not follower.follow([track])
    finally:
        follower.release.set()
    assert follower.asked <= 1 and track.problem_kind is None and track.status is None
    assert follower.cut_short == follower.asked


def test_ok_a_stateful_run_asks_the_jobs_heard_of_least_recently_first() -> None:
    """When -t cannot hold every status request, the ones left out are not always the same:
    a job at the end of the list aged to CRITICAL, run after run, though the API answered
    every request it was sent."""
    now = time.time()
    tracks = [JobTrack(name, name, n, now - 3600) for n, name in enumerate(("a", "b", "c"), 1)]
    tracks[0].last_seen_at, tracks[1].last_seen_at = now - 60, now - 1800
    follower = ScriptedFollower(3, Deadline(10), pool_size=1)
    follower.poll_once(tracks)
    assert follower.order == ["c", "b", "a"]


def test_unknown_a_target_not_launched_survives_a_round_trip_an_earlier_version_reads() -> None:
    track = JobTrack("vm-c", "vm-c", None, T0)
    track.not_launched("backup launch cut by the probe's deadline", sent=True)
    data = track.to_dict()
    assert data["problem_kind"] is None, "an earlier version reads it as a failed launch"
    back = JobTrack.from_dict(json.loads(json.dumps(data)), T0 + 10, TABLE.category)
    assert back.launch_problem == LAUNCH_CUT and back.launch_again
    verdict = judge(back, TABLE, SETTINGS, T0 + 10)
    assert verdict.state is State.UNKNOWN and verdict.short == "vm-c (launch cut at the deadline)"
    back.started(7)
    assert back.launch_problem is None


def test_crit_flipping_between_waiting_and_running_without_progress_stalls() -> None:
    track = seen(fresh(), T0, "Pending", 20)
    for step in range(1, 12):                   # Running, Pending, Running... always at 20 %
        seen(track, T0 + 25 * step, "Running" if step % 2 else "Pending", 20)
    assert track.status == "Running"
    assert judge(track, TABLE, SETTINGS, T0 + 275).state is State.CRITICAL   # 250 s at 20 %
    seen(track, T0 + 290, "Pending", 20)
    verdict = judge(track, TABLE, SETTINGS, T0 + 290)
    assert verdict.state is State.CRITICAL and "(Pending again)" in verdict.short
    seen(track, T0 + 300, "Running", 21)        # progress restarts the clock
    assert judge(track, TABLE, SETTINGS, T0 + 300).state is State.OK
