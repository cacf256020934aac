"""iaso-profile-doctor and its -t: a step without a fair share of the time left is not called.

The steps the walk has no time for are shown as not examined (UNKNOWN), never as failures of the
API, the walk stops there, and no job is launched in its last moments. Two cases run on a
scripted deadline (each request the simulator receives spends a fixed share of it); two run in
real time with a slow simulator, as the review's reproduction did.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest
from click.testing import CliRunner
from conftest import play, write_config

from libiaso.deadline import Deadline
from libiaso.doctor import examination
from libiaso.doctor.command import main

TEST_HOST = "vm-test-01"


@pytest.fixture
def config(tmp_path: Path, sim: Any) -> Path:
    """Our contract's profile (version 2): a host's recent jobs are read before a launch."""
    return write_config(tmp_path, sim.url, extra={"profile": {"version": 2}})


def doctor(config: Path, timeout: float, *args: str) -> Any:
    return CliRunner().invoke(main, ["-C", str(config), "-t", f"{timeout:g}", *args])


def call_lines(output: str) -> List[str]:
    return output.split("Verdicts:", 1)[0].splitlines()


def verdict(output: str, probe: str) -> str:
    tail = output.split("Verdicts:", 1)[1]
    return next(line.strip() for line in tail.splitlines() if line.strip().startswith(probe))


def spent_per_request(monkeypatch: pytest.MonkeyPatch, sim: Any, cost: float) -> None:
    """The walk's deadline spends ``cost`` seconds of its budget per request the simulator
    has received; nothing else moves it."""

    class Scripted(Deadline):
        def remaining(self) -> float:
            return max(0.0, self.budget - cost * sum(sim.counters.values()))

        def check(self) -> None:
            if self.remaining() <= 0:
                raise self._reached()

        def arm(self) -> None:
            pass

        def disarm(self) -> None:
            pass

    monkeypatch.setattr(examination, "Deadline", Scripted)


def test_unknown_steps_without_time_are_not_examined_rather_than_failed(
        sim: Any, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-t 4 (3.6 s budget, fair share 0.9 s), 1.5 s per request: life and health fit, login
    would be sent with 0.6 s left. It and the listing are not examined, and not sent."""
    spent_per_request(monkeypatch, sim, 1.5)
    result = doctor(config, 4)
    assert result.exit_code == 1, result.output
    assert sim.counters["login"] == 0 and sim.counters["vm_list"] == 0
    lines = call_lines(result.output)
    assert "login       not examined: out of time (-t 4)" in lines, result.output
    assert "vm_list     not examined: out of time (-t 4)" in lines
    assert verdict(result.output, "check_iaso_life").split()[1] == "OK"
    assert verdict(result.output, "check_iaso_auth") == \
        "check_iaso_auth            UNKNOWN   not examined: out of time (-t 4)"
    assert "CRITICAL" not in result.output
    assert ("The walk stopped early, out of time: 0.60 s of the walk's -t 4 left, a call "
            "needs 0.90 s (give a longer -t)") in result.output


def test_unknown_a_launch_is_never_sent_without_its_fair_share(
        sim: Any, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-t 10 (9 s budget, fair share 1 s), 1.7 s per request: the read-only steps fit, the
    backup launch would be sent with 0.5 s left. It is not sent: no job started by a call
    whose answer could not be read."""
    spent_per_request(monkeypatch, sim, 1.7)
    result = doctor(config, 10, "--launch", "--host", TEST_HOST)
    assert sim.counters["backup"] == 0 and sim.counters["job_status"] == 0, result.output
    assert result.exit_code == 1
    assert "backup      not examined: out of time (-t 10)" in call_lines(result.output)
    assert verdict(result.output, "check_iaso_backup") == \
        "check_iaso_backup          UNKNOWN   not examined: out of time (-t 10)"


def test_unknown_a_slow_api_under_a_short_t_is_not_blamed_for_calls_never_sent(
        sim: Any, config: Path) -> None:
    """The review's case, in real time: life and health answer in 0.5 s, -t 1 (0.8 s budget).
    Login and the listing were reported CRITICAL ("no time left to call .../login")."""
    play(sim, {"endpoints": {"life": {"latency": 0.5}, "health": {"latency": 0.5}}})
    result = doctor(config, 1)
    assert result.exit_code == 1, result.output
    assert sim.counters["login"] == 0 and sim.counters["vm_list"] == 0
    assert "CRITICAL" not in result.output, result.output
    assert verdict(result.output, "check_iaso_auth").split()[1:3] == ["UNKNOWN", "not"]
    assert "fleet listing              UNKNOWN   not examined" in result.output
    assert "The walk stopped early, out of time" in result.output


def test_unknown_a_launch_reached_in_the_last_moments_is_not_sent(sim: Any,
                                                                  config: Path) -> None:
    """In real time: the host's job listing answers in 2.3 s under -t 3 (2.7 s budget), so the
    backup launch is reached with some 0.3 s left; it was sent all the same."""
    play(sim, {"endpoints": {"job_list": {"latency": 2.3}}})
    result = doctor(config, 3, "--launch", "--host", TEST_HOST)
    assert sim.counters["job_list"] == 1, result.output
    assert sim.counters["backup"] == 0, result.output
    assert verdict(result.output, "check_iaso_backup").split()[1:3] == ["UNKNOWN", "not"]
    assert verdict(result.output, "job listing").split()[2] == "OK"
