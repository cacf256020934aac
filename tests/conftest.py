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

from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Sim-Pa55word-never-printed"
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


@pytest.fixture(scope="session", autouse=True)
def record_outputs() -> Iterator[None]:
    """Keep what every in-process probe run printed, for tests/test_zz_no_secret_leaked.py."""
    from libiaso.run.runner import Probe

    original = Probe.run

    def recording(self: Probe, *args: Any, **kwargs: Any) -> Any:
        outcome = original(self, *args, **kwargs)
        OUTPUTS.append(outcome.output)
        return outcome

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Probe, "run", recording)
        yield


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
