"""What the job-probe tests share: their configuration, and one simulated clock for all.

``Clocked`` makes a test's simulated hours pass at once: the probes read their wall clock from
it (the clock ``job_check`` accepts) and the simulator's jobs progress by it (the clock
``JobBook`` accepts), so stalls, waits and silences of hours are checked without sleeping.
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from conftest import play, write_config

from iaso_probes import check_iaso_backup, check_iaso_restore
from libiaso.simulator.jobs import JobBook

PROBES = {"backup": check_iaso_backup.probe, "restore": check_iaso_restore.probe}
BUILDERS = {"backup": check_iaso_backup.build, "restore": check_iaso_restore.build}
FAST = {"job_speed": 60, "job_duration": 60}   # a simulated job lasts one second
HOUR = 3600.0


def job_config(tmp_path: Path, sim: Any, **jobs: Any) -> Path:
    settings: Dict[str, Any] = {"state_dir": str(tmp_path / "state"), "poll_interval": 0.2,
                                "max_poll_interval": 1}
    settings.update(jobs)
    return write_config(tmp_path, sim.url, extra={
        "jobs": settings,
        "backup_sets": {"linux": [{"hostname": "vm-a", "level": "incremental"},
                                  {"hostname": "vm-b", "level": "full"},
                                  {"hostname": "vm-c", "level": "incremental"}]},
        "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                    "source_path": "/etc", "destination": "/tmp/restore"}},
    })


def poller(tmp_path: Path, sim: Any, name: str, sets: Optional[Dict[str, Any]] = None,
           **profile: Any) -> Path:
    """A poller's configuration: its own directory, its own state directory."""
    home = tmp_path / name
    home.mkdir()
    config = job_config(home, sim)
    data = yaml.safe_load(config.read_text())
    data["environments"]["lab"]["profile"] = profile or {"version": 2}   # our contract, whole
    if sets is not None:
        data["environments"]["lab"]["backup_sets"] = sets
    config.write_text(yaml.safe_dump(data))
    return config


def run(probe: str, config: Path, *args: str) -> Any:
    return PROBES[probe].run(["-C", str(config), *args])


def host(name: str, **plan: Any) -> Dict[str, Any]:
    return dict(FAST, hosts={name: plan})


def status_body(**document: Any) -> Dict[str, Any]:
    return dict(FAST, endpoints={"job_status": {"body": {"json": document}}})


def hanging(role: str, scenario: Dict[str, Any]) -> Dict[str, Any]:
    return dict(scenario, endpoints={role: {"hang": True}})


class Clocked:
    """A wall clock that moves only when told, shared by the probes and the simulator."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.start = start

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - self.start

    def advance(self, seconds: float) -> None:
        self.now += seconds


def clock_the_probes(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Clocked:
    """One ``Clocked`` for this test's probe runs and the simulator's jobs and wall clock (as a
    real API's and a poller's clocks agree)."""
    clock = Clocked()
    monkeypatch.setattr(sim, "jobs", JobBook(clock=clock.monotonic))
    monkeypatch.setattr(sim, "clock", clock)
    for kind, probe in PROBES.items():
        monkeypatch.setattr(probe, "build", partial(BUILDERS[kind], clock=clock))
    return clock


def scene(sim: Any, scenario: Dict[str, Any]) -> None:
    play(sim, scenario)


def state_files(tmp_path: Path) -> List[Path]:
    return sorted((tmp_path / "state").rglob("*.json"))


def state_of(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text())


def perfdata(first_line: str) -> Dict[str, str]:
    """Perfdata label → value with its unit, whatever the order."""
    found = {}
    for item in first_line.partition(" | ")[2].split():
        label, _, rest = item.partition("=")
        found[label.strip("'")] = rest.split(";", 1)[0]
    return found
