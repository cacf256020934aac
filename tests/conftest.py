"""Shared fixtures: an in-process simulator on loopback, configuration files, probe runners."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml
from operator_host import installed  # noqa: F401  (one documented install for the session)

from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator

ROOT = Path(__file__).resolve().parent.parent
# Non-ASCII letters, a quote and a backslash: every way a serialiser may escape it is exercised.
PASSWORD = 'Sïm-Päss"wörd\\never-printed'

USERNAME = "nagios"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the parsed-configuration cache of the whole run away from the user's own."""
    path = tmp_path_factory.mktemp("cache")
    saved = os.environ.get("IASO_PROBES_CACHE_DIR")
    os.environ["IASO_PROBES_CACHE_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("IASO_PROBES_CACHE_DIR", None)
    else:
        os.environ["IASO_PROBES_CACHE_DIR"] = saved


OUTPUTS: List[str] = []   # every output of every probe run of the session, for leak checks
SIMULATORS: List[Simulator] = []   # every simulator of the session: the tokens it issued
BASETEMP: List[Path] = []


@pytest.fixture(scope="session", autouse=True)
def record_outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep what every in-process probe run printed and every simulator made, for the secret
    scan that ends the session (pytest_sessionfinish below)."""
    from libiaso.run.runner import Probe

    original_run = Probe.run
    original_init = Simulator.__init__

    def recording(self: Probe, *args: Any, **kwargs: Any) -> Any:
        outcome = original_run(self, *args, **kwargs)
        OUTPUTS.append(outcome.output)
        return outcome

    def registering(self: Simulator, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        SIMULATORS.append(self)

    BASETEMP.append(tmp_path_factory.getbasetemp())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Probe, "run", recording)
        patch.setattr(Simulator, "__init__", registering)
        yield


def leaked_secrets() -> List[str]:
    """Where the password (in any encoded form) or an issued token appears in what the session
    left: probe outputs, subprocess stdout and stderr, and every file under pytest's basetemp."""
    from leak_scan import LeakScanner

    scanner = LeakScanner(PASSWORD, (t for sim in SIMULATORS for t in sim.issued))
    found = [f"an output: {output[:200]!r}" for output in OUTPUTS
             if scanner.leaks(output.encode("utf-8", "surrogatepass"))]
    for base in BASETEMP:
        for path in base.rglob("*"):
            if path.name == "password" or path.is_symlink() or not path.is_file():
                continue
            try:
                with open(path, "rb") as handle:
                    data = handle.read(5_000_000)
            except OSError:
                continue
            if scanner.leaks(data):
                found.append(f"{path}")
    return found


# What the product writes on a real host: tests must keep to their own temporary directories.
HOST_PATHS = ("/var/lib/iaso-probes", "/var/log/iaso-probes", "/etc/iaso-probes")
HOST_PATHS_BEFORE = {path: os.path.exists(path) for path in HOST_PATHS}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The secret scan, after every test whatever their order or selection; and no test may
    have written where the product writes on a real host."""
    created = [p for p in HOST_PATHS if os.path.exists(p) and not HOST_PATHS_BEFORE[p]]
    if created:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"TESTS WROTE OUTSIDE THEIR TEMPORARY DIRECTORIES: {created}",
                                red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    found = leaked_secrets()
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["SECRET LEAKED into:", *sorted(set(found))[:50]]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    sim = Simulator(scenario_from({"credentials": {"username": USERNAME, "password": PASSWORD}}))
    sim.start("127.0.0.1", 0)
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The simulator with a clean scenario, counters, tokens and jobs for this test."""
    play(simulator, {})
    simulator.reset()
    yield simulator
    play(simulator, {})


def play(sim: Simulator, scenario: Dict[str, Any]) -> None:
    data = dict(scenario)
    data.setdefault("credentials", {"username": USERNAME, "password": PASSWORD})
    sim.set_scenario(scenario_from(data))


def write_config(directory: Path, base_url: str, *, password: Optional[str] = PASSWORD,
                 extra: Optional[Dict[str, Any]] = None, env: str = "lab") -> Path:
    """A configuration file (and password file, mode 600) for one environment."""
    secret = directory / "password"
    if password is not None:
        secret.write_text(password + "\n", encoding="utf-8")
        secret.chmod(0o600)
    environment: Dict[str, Any] = {
        "base_url": base_url,
        "credentials": {"username": USERNAME, "password_file": str(secret)},
    }
    environment.update(extra or {})
    path = directory / "iaso.yaml"
    path.write_text(yaml.safe_dump({"environments": {env: environment}}), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, sim: Simulator) -> Path:
    return write_config(tmp_path, sim.url)


def require_core(binary: str, packages: str) -> None:
    """Skip a module whose core is not installed, except in CI, where that is a failure."""
    if os.path.exists(binary):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is missing: scripts/test installs {packages} with apt-get",
                    pytrace=False)
    pytest.skip(f"{binary} is not installed (apt-get install {packages})",
                allow_module_level=True)


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def first_line(self) -> str:
        return self.stdout.split("\n", 1)[0]


def run_program(module: str, *args: str, env: Optional[Dict[str, str]] = None,
                timeout: float = 60, user: Optional[str] = None) -> Finished:
    """Run ``python -m <module> args`` as a real subprocess, as a core would."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=environment, timeout=timeout, cwd=str(ROOT), user=user)
    OUTPUTS.extend((done.stdout, done.stderr))
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
