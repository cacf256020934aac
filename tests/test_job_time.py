"""Job checks whose own steps outlast -t: running out of the probe's time is not the API's fault.

A call the deadline cuts counts against the API only if it was given its fair share of -t (1 s,
a quarter of the budget under a short -t, or twice the slowest answer of the run if longer);
a call sent later is ``OutOfTime`` (UNKNOWN), and a launch is not sent at all without that
share. These scenarios come from an outside review: each was CRITICAL before.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import play, write_config
from job_harness import HOUR, Clocked, clock_the_probes, poller, run

from libiaso.api.client import IasoClient
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline
from libiaso.errors import ApiTimeout, OutOfTime

LONG = {"job_speed": 1, "job_duration": HOUR}


@pytest.fixture
def clocked(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Clocked:
    return clock_the_probes(sim, monkeypatch)


def test_unknown_the_listings_of_a_set_outlast_t_and_nothing_is_launched(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    config = poller(tmp_path, sim, "a")
    play(sim, dict(LONG, endpoints={"job_list": {"latency": 0.9}}))
    for _ in range(2):
        slow = run("backup", config, "-S", "linux", "-t", "3")
        assert slow.code == 3, slow.output
        assert slow.first_line.startswith("IASO BACKUP UNKNOWN - lab: no time left for the job "
                                          "listing of vm-c (3 targets to list before any "
                                          "launch): no time left for "), slow.output
        assert sim.counters["backup"] == 0
    play(sim, LONG)
    clocked.advance(60)
    fast = run("backup", config, "-S", "linux", "-t", "3")
    assert fast.code == 0 and sim.counters["backup"] == 3, fast.output


def test_unknown_launches_outlast_t_and_the_rest_is_launched_next_run(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    config = poller(tmp_path, sim, "a")      # with the job listing: a cut launch is found
    play(sim, dict(LONG, endpoints={"backup": {"latency": 1.0}}))
    slow = run("backup", config, "-S", "linux", "-t", "3")
    assert slow.code == 3, slow.output
    # launches answered in 1.0 s: the third has about 0.7 s, under twice the slowest answer:
    # not sent, or sent and cut, it is the probe's time that ran out, not the API's answer
    assert re.match(r"IASO BACKUP UNKNOWN - lab: 1 of 3 backups in an unknown state: vm-c "
                    r"\((not launched this run|launch cut at the deadline)\)", slow.first_line), \
        slow.output
    assert re.search(r"\nUNKNOWN vm-c: backup (not launched: no time left in the probe's "
                     r"deadline \(-t 3\)|launch cut by the probe's deadline, whether it started "
                     r"is unknown \(no time left for \S+: sent with 0\.\d+ s)", slow.output), \
        slow.output
    assert sim.counters["backup"] in (2, 3)
    waited = time.monotonic() + 5     # a cut launch still in the simulator's scripted latency
    while sim.counters["backup"] == 3 and time.monotonic() < waited and \
            not sim.jobs.recent("backup", "vm-c", sim.scenario):
        time.sleep(0.05)
    play(sim, LONG)
    clocked.advance(60)
    rest = run("backup", config, "-S", "linux", "-t", "3")
    assert rest.code == 0, rest.output
    assert sim.counters["backup"] == 3, "vm-c launched once: now, or found in the listing"


def test_ok_jobs_found_in_the_listing_age_from_the_listing_not_their_launch(
        sim: Any, tmp_path: Path, clocked: Clocked) -> None:
    """Poller B first meets the jobs two hours after poller A launched them, and gets no status
    answer this run: the silence counts from the listing, not from the launch."""
    play(sim, dict(LONG, job_duration=10 * HOUR))
    first, second = poller(tmp_path, sim, "a"), poller(tmp_path, sim, "b")
    assert run("backup", first, "-S", "linux", "-t", "3").code == 0
    clocked.advance(2 * HOUR)
    assert run("backup", first, "-S", "linux", "-t", "3").code == 0
    play(sim, dict(LONG, job_duration=10 * HOUR, endpoints={"job_status": {"hang": True}}))
    late = run("backup", second, "-S", "linux", "-t", "2")
    assert late.code == 0, late.output
    assert "following 3 backups (3 launched by another run)" in late.first_line
    assert late.output.count("(0:00:00 ago; nothing since it was found in the job listing)") \
        == 3, late.output
    assert sim.counters["backup"] == 3


# --- the transport's judgement of a cut call ------------------------------------------------------


def client_for(sim: Any, tmp_path: Path, deadline: Deadline) -> IasoClient:
    config = write_config(tmp_path, sim.url)
    return IasoClient(load_config(str(config)).environment(None), deadline)


def test_crit_a_call_given_its_fair_share_and_cut_is_the_apis_timeout(
        sim: Any, tmp_path: Path) -> None:
    play(sim, {"endpoints": {"life": {"hang": True}}})
    client = client_for(sim, tmp_path, Deadline(1.2))
    with pytest.raises(ApiTimeout):
        client.call("life")


def test_unknown_a_call_sent_with_too_little_of_t_left_is_out_of_time(
        sim: Any, tmp_path: Path) -> None:
    play(sim, {"endpoints": {"life": {"hang": True}}})
    client = client_for(sim, tmp_path, Deadline(3.0, started=time.monotonic() - 2.5))
    with pytest.raises(OutOfTime, match=r"^no time left for \S+: sent with 0\.\d\d s of the "
                                        r"probe's deadline \(-t 3\) left, after 2\.\d s"):
        client.call("life")


def test_unknown_a_call_cut_within_twice_the_runs_slowest_answer_is_out_of_time(
        sim: Any, tmp_path: Path) -> None:
    """0.6 s left of 1.8: more than the deadline's share (0.45 s), less than twice the run's
    slowest answer (1.0 s, capped at half the budget, 0.9 s)."""
    play(sim, {"endpoints": {"health": {"hang": True}}})
    client = client_for(sim, tmp_path, Deadline(2.0, started=time.monotonic() - 1.2))
    client.transport.slowest = 1.0
    assert client.fair_share() == pytest.approx(0.9)
    with pytest.raises(OutOfTime):
        client.call("health")


def test_crit_a_call_given_half_the_budget_and_cut_is_the_apis_whatever_came_before(
        sim: Any, tmp_path: Path) -> None:
    """One slow answer cannot make every later hang read as the probe's lack of time: 1.8 s
    given is less than twice the slowest answer (2.0 s), but all of the budget."""
    play(sim, {"endpoints": {"health": {"hang": True}}})
    client = client_for(sim, tmp_path, Deadline(2.0))
    client.transport.slowest = 1.0
    with pytest.raises(ApiTimeout):
        client.call("health")


def test_ok_a_job_found_in_the_listing_not_visible_yet_is_asked_again_not_failed(
        sim: Any, tmp_path: Path) -> None:
    """A job ID new to the status endpoint answers 404 on its first polls: the poller that
    found it in the listing tries again, as the one that launched it does."""
    play(sim, {"job_speed": 60, "job_duration": 600, "hosts": {"vm-a": {"invisible_polls": 2}}})
    first, second = poller(tmp_path, sim, "a"), poller(tmp_path, sim, "b")
    assert run("backup", first, "-H", "vm-a").code == 0
    found = run("backup", second, "-H", "vm-a")
    assert found.code == 0, found.output
    assert "following 1 backup (1 launched by another run)" in found.first_line
    assert "not visible yet (HTTP 404, 1 of 3 tries)" in found.output


def test_unknown_a_call_with_no_time_left_at_all_is_out_of_time_not_sent(
        sim: Any, tmp_path: Path) -> None:
    client = client_for(sim, tmp_path, Deadline(2.0, started=time.monotonic() - 5))
    with pytest.raises(OutOfTime, match=r"^no time left to call \S+/life within the probe's "
                                        r"deadline \(-t 2\)"):
        client.call("life")
    assert sim.counters["life"] == 0
