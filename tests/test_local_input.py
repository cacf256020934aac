"""Bad local input stays bounded: configuration and password files that are not what they
should be end UNKNOWN at once, naming the file, never hang, never grow, never send garbage."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, write_config

from iaso_probes.check_iaso_auth import probe as auth
from iaso_probes.check_iaso_life import probe as life

BILLION_LAUGHS = "".join(
    ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    + [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")]
    + ["environments: {lab: {base_url: 'http://127.0.0.1:9', huge: *i}}\n"])


# A fresh parent whose only child is the probe: its children's peak RSS is the probe's own.
MEASURED = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(done.returncode)")


def run_subprocess(config: Path, *args: str, timeout: float = 3) -> Any:
    """The probe as a core runs it, with its peak memory in MiB."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", MEASURED, sys.executable, "-m",
                           "iaso_probes.check_iaso_life", "-C", str(config), "-t", str(timeout),
                           *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), IASO_PROBES_CACHE_DIR="off"))
    *rest, peak = done.stderr.splitlines() or ["0"]
    done.stderr = "\n".join(rest)
    return done, time.monotonic() - started, int(peak) / 1024


def test_unknown_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    config = tmp_path / "iaso.yaml"
    config.write_text(BILLION_LAUGHS)
    done, elapsed, peak_mib = run_subprocess(config)
    assert done.returncode == 3, done.stdout
    assert "aliases expand it to more than" in done.stdout and done.stderr == ""
    assert elapsed < 3.5 and peak_mib < 200


def test_ok_yaml_aliases_within_the_bound_are_expanded(tmp_path: Path, sim: Any) -> None:
    config = tmp_path / "iaso.yaml"
    config.write_text(f"environments: {{lab: &common {{base_url: '{sim.url}'}}, "
                      "qualif: *common}\n")
    assert life.run(["-C", str(config), "-E", "qualif"]).code == 0


def test_unknown_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "iaso.yaml"
    config.write_text("environments: &e {lab: *e}\n")
    outcome = life.run(["-C", str(config)])
    assert outcome.code == 3 and str(config) in outcome.first_line, outcome.output


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "oversized"])
def test_unknown_configuration_file_that_is_not_a_bounded_regular_file(kind: str,
                                                                      tmp_path: Path) -> None:
    config = tmp_path / "iaso.yaml"
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "dev-zero":
        config = Path("/dev/zero")
    elif kind == "directory":
        config.mkdir()
    else:
        config.write_text("# padding\n" * 500_000)
    done, elapsed, _ = run_subprocess(config)
    assert done.returncode == 3, done.stdout
    assert done.stdout.startswith(f"IASO LIFE UNKNOWN - {config}: ") and done.stderr == ""
    assert elapsed < 3.5


@pytest.mark.parametrize("kind,words", [
    ("fifo", "not a regular file"), ("dev-zero", "not a regular file"),
    ("directory", "is a directory"), ("one-long-line", "longer than 4096 bytes"),
    ("control-characters", "control characters"), ("empty", "is empty"),
])
def test_unknown_password_file_that_is_not_a_short_first_line(kind: str, words: str,
                                                              tmp_path: Path, sim: Any) -> None:
    secret = tmp_path / "secret"
    if kind == "fifo":
        os.mkfifo(secret)
    elif kind == "dev-zero":
        secret = Path("/dev/zero")
    elif kind == "directory":
        secret.mkdir()
    elif kind == "one-long-line":
        with open(secret, "wb") as handle:
            handle.write(b"x" * (100 * 1024 * 1024))
    elif kind == "control-characters":
        secret.write_bytes(b"pass\x1bword\n")
    else:
        secret.write_bytes(b"\n")
    config = write_config(tmp_path, sim.url)
    data = yaml.safe_load(config.read_text())
    data["environments"]["lab"]["credentials"]["password_file"] = str(secret)
    config.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    outcome = auth.run(["-C", str(config), "-t", "3"])
    assert outcome.code == 3, outcome.output
    assert str(secret) in outcome.first_line and words in outcome.first_line
    assert sim.counters["login"] == 0 and time.monotonic() - started < 2
