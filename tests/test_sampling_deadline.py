"""check_iaso_response_time and its own deadline: the -n samples share -t.

A sample is only started when the time left can hold it; a sample not started, or cut by the
probe's deadline after being sent with less than its fair share, is not a sample (never averaged
in), and the output says "k of N samples within -t". Most cases run on a manual clock: the
deadline, the pauses and the API's answer times are scripted (the answers themselves come from
the simulator, so that they are read and verified as in a real run). Two cases run the whole
probe against the simulator in real time, as the review's reproductions did.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, List, Optional, Sequence

import nagiosplugin
import pytest
from conftest import play

from iaso_probes import check_iaso_response_time
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline, DeadlineReached
from libiaso.errors import ApiTimeout, OutOfTime
from libiaso.redaction import Redactor
from libiaso.run.probe_run import CommonOptions, ProbeRun
from libiaso.run.runner import perfdata_in_order
from libiaso.states import State, state_for

probe = check_iaso_response_time.probe


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now


class ManualDeadline(Deadline):
    """The probe's deadline on a scripted clock (never armed: no signal in these tests)."""

    def __init__(self, timeout: float, clock: Clock) -> None:
        self.clock = clock
        super().__init__(timeout, started=0.0)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.now)

    def elapsed(self) -> float:
        return self.clock.now - self.started

    def check(self) -> None:
        if self.clock.now >= self.at:
            raise self._reached()


class ScriptedClient:
    """The real client against the simulator, its answer times replaced by a script, and the
    deadline's cut modelled as the transport makes it: a call that would outlast the time left
    is cut at the deadline, ``OutOfTime`` if it was sent with less than its fair share (the
    real client's rule, fed with the scripted answer times), else ``ApiTimeout``."""

    def __init__(self, real: Any, clock: Clock, deadline: Deadline,
                 latencies: Sequence[float]) -> None:
        self.real = real
        self.clock = clock
        self.deadline = deadline
        self.latencies: Iterator[float] = iter(latencies)
        self.sent: List[float] = []       # the time left when each call was sent
        self.slowest = 0.0

    def call(self, role: str) -> Any:
        latency = next(self.latencies)
        given = self.deadline.remaining()
        self.sent.append(given)
        if latency > given:
            self.clock.now += given
            if given < self.fair_share():
                raise OutOfTime(f"no time left for {role}: sent with {given:.2f} s left",
                                elapsed=given)
            raise ApiTimeout(f"no complete answer from {role} after {given:.1f} s: stopped "
                             "at the probe's deadline", elapsed=given)
        answer = self.real.call(role)
        self.clock.now += latency
        self.slowest = max(self.slowest, latency)
        return answer._replace(elapsed=latency)

    def fair_share(self) -> float:
        self.real.transport.slowest = self.slowest
        return float(self.real.fair_share())


class Measured:
    """One check run on the manual clock: state, first line, long output, perfdata."""

    def __init__(self, check: nagiosplugin.Check, client: ScriptedClient) -> None:
        self.check = check
        self.client = client
        self.state = State.of(check.state)
        self.first_line = check.summary_str
        verbose = check.verbose_str
        self.long_output = "\n".join(verbose) if isinstance(verbose, list) else verbose
        self.perfdata = " ".join(perfdata_in_order(check))


def measure(config: Path, monkeypatch: pytest.MonkeyPatch, latencies: Sequence[float], *,
            samples: int, timeout: float, interval: float = 0.0, warning: Optional[str] = None,
            critical: Optional[str] = None, spent: float = 0.0) -> Measured:
    clock = Clock(spent)
    deadline = ManualDeadline(timeout, clock)

    def sleep(seconds: float) -> None:
        """A pause; one that reaches the deadline ends as the armed deadline ends it."""
        if seconds >= deadline.remaining():
            clock.now = deadline.at
            raise DeadlineReached(f"stopped at the probe's deadline (-t {timeout:g})")
        clock.now += seconds

    # the probe's pauses, whichever way it takes them, are the manual clock's
    monkeypatch.setattr(check_iaso_response_time, "time",
                        SimpleNamespace(sleep=sleep, monotonic=time.monotonic, time=time.time))
    environment = load_config(str(config)).environment(None)
    options = CommonOptions(str(config), None, timeout,
                            nagiosplugin.Range(warning) if warning else None,
                            nagiosplugin.Range(critical) if critical else None, 0)
    run = ProbeRun(options, environment, deadline, Redactor())
    client = ScriptedClient(run.client, clock, deadline, latencies)
    check = check_iaso_response_time.build(run, "life", samples, interval)
    for resource in check.resources:
        resource.sleep = sleep
    run._client = client
    try:
        check()
    finally:
        client.real.close()
    return Measured(check, client)


def test_ok_samples_that_cannot_fit_in_t_are_not_sent(config: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's case: answers in 2.0 s, -n 5 -t 10: a sample needs 4 s left (twice the
    slowest answer), so three are sent in the 9 s budget (the fifth was sent with 1 s left and
    reported CRITICAL, time_min 1.0)."""
    done = measure(config, monkeypatch, [2.0] * 5, samples=5, timeout=10, warning="3",
                   critical="5")
    assert done.state is State.OK, done.first_line
    assert len(done.client.sent) == 3
    assert re.search(r"life answered 3 times in 2\.000 s on average \(min 2\.000, max 2\.000\)"
                     r"; 3 of 5 samples within -t 10$", done.first_line), done.first_line
    assert "time_min=2.0s;" in done.perfdata and "samples=3;;;0;5" in done.perfdata
    assert re.search(r"^3 of 5 samples within -t 10 \(sample 4 not sent: 3\.00 s of the "
                     r"probe's time left, a sample needs 4\.00 s\)", done.long_output)


def test_warn_thresholds_judge_the_samples_taken(config: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow answers (3.5 s) under -c 5: WARNING on the two samples that fit, not CRITICAL for
    the third, which would have been sent with 2 s left and cut."""
    done = measure(config, monkeypatch, [3.5] * 5, samples=5, timeout=10, warning="3",
                   critical="5")
    assert done.state is State.WARNING, done.first_line
    assert done.first_line == ("lab: average response time 3.500 s (outside range 0:3); "
                               "2 of 5 samples within -t 10")
    assert "samples=2;;;0;5" in done.perfdata


def test_ok_a_pause_that_would_reach_the_deadline_is_not_taken(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-n 3 -i 1 -t 2: the second pause would run into the deadline; the run was UNKNOWN and
    both samples taken were thrown away."""
    done = measure(config, monkeypatch, [0.01] * 3, samples=3, timeout=2, interval=1)
    assert done.state is State.OK, done.first_line
    assert len(done.client.sent) == 2
    assert done.first_line.endswith("; 2 of 3 samples within -t 2"), done.first_line
    assert "sample 3 not sent" in done.long_output


def test_ok_a_sample_that_would_be_cut_without_its_fair_share_is_not_sent(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers in 0.8 s under -t 4 (3.6 s): a fourth sample would have 1.2 s, less than twice
    the slowest answer; cut, it would tell nothing of the API, so it is not sent."""
    done = measure(config, monkeypatch, [0.8, 0.8, 0.8, 5.0], samples=4, timeout=4)
    assert done.state is State.OK, done.first_line
    assert len(done.client.sent) == 3
    assert "time_min=0.8s" in done.perfdata and "time_max=0.8s" in done.perfdata
    assert "samples=3;;;0;4" in done.perfdata
    assert done.first_line.endswith("; 3 of 4 samples within -t 4"), done.first_line
    assert "sample 4 not sent: 1.20 s of the probe's time left, a sample needs 1.60 s" \
        in done.long_output


def test_crit_a_later_sample_hanging_with_half_the_budget_is_the_apis(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow first sample (3.5 s of -t 10) then a hang: twice the slowest (7 s) is capped at
    half the budget (4.5 s), so the hang, given 5.5 s, is the API's timeout, never a sample
    quietly left out."""
    done = measure(config, monkeypatch, [3.5, 99.0], samples=2, timeout=10, warning="5",
                   critical="8")
    assert done.state is State.CRITICAL, done.first_line
    assert len(done.client.sent) == 2


def test_unknown_no_sample_is_started_without_its_fair_share(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up left 0.5 s of a 9 s budget (fair share 1 s): nothing is sent, and the run is
    the probe running out of time (UNKNOWN), not a measurement."""
    with pytest.raises(OutOfTime) as raised:
        measure(config, monkeypatch, [0.01] * 3, samples=3, timeout=10, spent=8.5)
    assert state_for(raised.value) is State.UNKNOWN
    assert "no time left for a sample of life: 0.50 s" in raised.value.message


def test_crit_a_first_sample_that_hangs_with_its_fair_share_stays_critical(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: a hang given the whole budget is the API's (CRITICAL), the time waited shown."""
    done = measure(config, monkeypatch, [99.0] * 3, samples=3, timeout=2)
    assert done.state is State.CRITICAL, done.first_line
    assert "time_avg=1.8s" in done.perfdata and "samples=1;;;0;3" in done.perfdata
    assert len(done.client.sent) == 1


def test_crit_a_later_sample_that_hangs_with_its_fair_share_stays_critical(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: a sample sent with more than twice the slowest answer and still cut is the API's
    hang (CRITICAL), not a shortfall."""
    done = measure(config, monkeypatch, [0.5, 99.0, 0.5], samples=3, timeout=10)
    assert done.state is State.CRITICAL, done.first_line
    assert "no complete answer" in done.first_line and "of 3 samples" not in done.first_line


# --- the whole probe, in real time, against the simulator ---------------------------------------


def test_ok_slow_api_the_sample_that_cannot_fit_is_not_sent(sim: Any, config: Path) -> None:
    """life answers in 0.5 s, -n 5 -t 2.5 (2.25 s budget): the fifth sample was sent with
    ~0.2 s left and reported CRITICAL."""
    play(sim, {"endpoints": {"life": {"latency": 0.5}}})
    outcome = probe.run(["-C", str(config), "-n", "5", "-t", "2.5", "-w", "1", "-c", "2"])
    assert outcome.code == 0, outcome.output
    assert re.search(r"^IASO RESPONSE TIME OK - lab: life answered [34] times in 0\.5\d\d s "
                     r"on average .*; [34] of 5 samples within -t 2\.5 \| .*samples=[34];;;0;5$",
                     outcome.first_line), outcome.output
    assert sim.counters["life"] in (3, 4)


def test_ok_a_pause_into_the_deadline_keeps_the_samples(sim: Any, config: Path) -> None:
    """-n 3 -i 1 -t 2 against a fast API: was UNKNOWN ("stopped at the probe's deadline")
    with both samples taken thrown away."""
    outcome = probe.run(["-C", str(config), "-n", "3", "-i", "1", "-t", "2"])
    assert outcome.code == 0, outcome.output
    assert re.search(r"; 2 of 3 samples within -t 2 \| .*samples=2;;;0;3$",
                     outcome.first_line), outcome.output
    assert "sample 3 not sent" in outcome.output
