"""The runner as a core meets it: real subprocesses, exit codes, stdout only, own deadline."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, play, run_program

from libiaso.errors import (
    ApiTimeout,
    AuthenticationRejected,
    ConfigError,
    ProbeInterrupted,
    ProbeUsageError,
    SecretError,
    TlsError,
    WrongType,
)
from libiaso.states import state_for

PROGRAMS = ["iaso_probes.check_iaso_life", "iaso_probes.check_iaso_health",
            "iaso_probes.check_iaso_response_time", "iaso_probes.check_iaso_auth"]


@pytest.mark.parametrize("exc, state", [
    (ApiTimeout("x"), 2), (TlsError("x"), 2), (WrongType("x", field="f"), 2),
    (AuthenticationRejected("x"), 2), (ConfigError("x"), 3), (SecretError("x"), 3),
    (ProbeUsageError("x"), 3), (ProbeInterrupted("x"), 3), (RuntimeError("bug"), 3),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_one_mapping_from_exception_to_state(exc: BaseException, state: int) -> None:
    assert int(state_for(exc)) == state


@pytest.mark.parametrize("program", PROGRAMS)
def test_unknown_help_exits_3_on_stdout(program: str) -> None:
    done = run_program(program, "--help")
    assert done.code == 3
    assert "-t, --timeout SECONDS" in done.stdout and "-C, --config FILE" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("program", PROGRAMS)
def test_unknown_version_exits_3(program: str) -> None:
    done = run_program(program, "-V")
    assert done.code == 3
    assert done.stdout.startswith(program.split(".")[1] + " (iaso-probes) 0.")
    assert done.stderr == ""


@pytest.mark.parametrize("args, message", [
    (("--no-such-option",), "--no-such-option"),
    (("-t", "abc"), "'abc' is not a valid float"),
    (("-w", "x:y"), "is not a Nagios range"),
    (("extra-argument",), "Got unexpected extra argument"),
], ids=["unknown-option", "bad-timeout", "bad-range", "extra-argument"])
def test_unknown_usage_error_is_one_line_on_stdout(args: Any, message: str) -> None:
    done = run_program("iaso_probes.check_iaso_life", *args)
    assert done.code == 3, done
    assert done.stdout.startswith("IASO LIFE UNKNOWN - usage: ")
    assert message in done.stdout
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""


def test_crit_hanging_api_ends_within_timeout_with_output(sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"life": {"hang": True}}})
    done = run_program("iaso_probes.check_iaso_life", "-C", str(config), "-t", "3")
    assert done.code == 2, done
    assert done.first_line.startswith("IASO LIFE CRITICAL - lab: no complete answer from ")
    assert "| time=" in done.first_line
    assert done.elapsed < 3.0, done.elapsed
    assert done.stderr == ""


def test_crit_sigterm_still_prints_a_state(sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"life": {"hang": True}}})
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "iaso_probes.check_iaso_life", "-C",
                                str(config), "-t", "30"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 10
    while sim.counters["life"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 2, stdout
    assert "stopped by SIGTERM" in stdout
    assert stderr == ""


@pytest.mark.parametrize("probe_module", ["iaso_probes.check_iaso_life",
                                          "iaso_probes.check_iaso_backup"])
def test_unknown_a_stop_noted_between_start_up_and_arming_is_acted_on(
        sim: Any, config: Path, monkeypatch: pytest.MonkeyPatch, probe_module: str) -> None:
    """A SIGTERM landing after the start-up check and before the deadline's own handlers (while
    options are parsed) is only noted there; the run must end on it, not carry on to OK."""
    import importlib

    from libiaso import deadline as deadline_module

    arm = deadline_module.Deadline.arm

    def arm_after_a_stop(self: Any) -> None:
        deadline_module.EARLY_STOPS.append(signal.SIGTERM)   # as the noting handler does
        arm(self)

    monkeypatch.setattr(deadline_module.Deadline, "arm", arm_after_a_stop)
    probe = importlib.import_module(probe_module).probe
    try:
        outcome = probe.run(["-C", str(config), "-H", "vm-a"] if "backup" in probe_module
                            else ["-C", str(config)])
    finally:
        deadline_module.EARLY_STOPS.clear()
    assert outcome.code == 3, outcome.output
    assert "stopped by SIGTERM while starting" in outcome.output
    assert sim.counters["life"] == 0 and sim.counters["login"] == 0


def test_ok_console_scripts_run_as_installed(sim: Any, config: Path) -> None:
    script = Path(sys.executable).with_name("check_iaso_life")
    if not script.exists():
        pytest.fail(f"{script} is missing: install the package (pip install .) first")
    done = subprocess.run([str(script), "-C", str(config)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("IASO LIFE OK - lab: answered in ")
    assert done.stderr == ""


def test_unknown_unreadable_config_names_the_file(tmp_path: Path, sim: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import write_config

    from iaso_probes.check_iaso_life import probe

    config = write_config(tmp_path, sim.url)
    config.chmod(0o000)
    if os.geteuid() == 0:
        real_open = os.open

        def denied(path: Any, *args: Any, **kwargs: Any) -> Any:
            if str(path) == str(config):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr("os.open", denied)  # root reads any file: deny it here
    outcome = probe.run(["-C", str(config)])
    assert outcome.code == 3, outcome
    assert outcome.first_line == (f"IASO LIFE UNKNOWN - {config}: configuration file is not "
                                  "readable by this user")


def test_unknown_a_stop_whose_exception_a_finaliser_swallowed_is_never_an_ok(
        sim: Any, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python ignores an exception raised in a weakref callback or a finaliser (importlib's
    module locks use one): the SIGTERM handler's Terminated is lost there, and the check would
    go on to OK. The signal is kept and the run ends on it."""
    import weakref

    from iaso_probes.check_iaso_life import probe
    from libiaso import deadline as deadline_module

    arm = deadline_module.Deadline.arm

    class Module:
        pass

    def arm_then_stop_in_a_callback(self: Any) -> None:
        arm(self)
        victim = Module()
        watcher = weakref.ref(victim, lambda _: os.kill(os.getpid(), signal.SIGTERM)
                              or [n for n in range(9999)])   # the handler runs in here
        del victim
        assert watcher() is None

    monkeypatch.setattr(deadline_module.Deadline, "arm", arm_then_stop_in_a_callback)
    outcome = probe.run(["-C", str(config)])
    assert outcome.code == 3, outcome.output
    assert "stopped by SIGTERM" in outcome.output
