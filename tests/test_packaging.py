"""What an operator installs is whole: the wheel built from a clean copy of the checkout holds
every module, the object files and the sample configuration; it installs into a fresh virtual
environment of Debian 12's and of RHEL 9's Python from wheels alone, with no network, and every
console script then runs; the source distribution carries etc/, docs/ and the tests."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Set

import pytest
from distribution import THIS_PYTHON, build_wheels, clean_copy, offline_pip, python39, wheelhouse

pytestmark = pytest.mark.integration


class Built(NamedTuple):
    source: Path
    wheels: Path      # the project's wheel and its dependencies' (for this Python)
    wheel: Path       # the project's wheel
    sdist: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("packaging")
    source = clean_copy(work / "source")
    wheels = build_wheels(source, work / "wheels")
    sdist_dir = work / "sdist"
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(sdist_dir),
                           str(source)], capture_output=True, text=True, timeout=300,
                          env=offline_pip(wheelhouse(THIS_PYTHON)))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = wheels.glob("iaso_probes-*.whl")
    (sdist,) = sdist_dir.glob("*.tar.gz")
    yield Built(source, wheels, wheel, sdist)
    shutil.rmtree(source)   # its tests/conftest.py names the simulator's password


def source_modules(source: Path) -> Set[str]:
    found = set()
    for top, installed in (("libiaso", "libiaso"), ("probes", "iaso_probes")):
        for path in (source / top).rglob("*.py"):
            found.add(installed + "/" + path.relative_to(source / top).as_posix())
    return found


def test_ok_wheel_holds_every_module_under_our_own_names(built: Built) -> None:
    names = set(zipfile.ZipFile(built.wheel).namelist())
    modules = {name for name in names if name.endswith(".py")}
    assert modules == source_modules(built.source)
    assert not any(name.startswith("probes/") for name in names), "a generic top-level 'probes'"


def test_ok_wheel_carries_every_object_file_and_the_sample(built: Built) -> None:
    names = set(zipfile.ZipFile(built.wheel).namelist())
    data = re.compile(r"^iaso_probes-[^/]+\.data/data/share/iaso-probes/(.*)$")
    carried = {match.group(1) for match in map(data.match, names) if match}
    etc = built.source / "etc"
    expected = {path.name for path in etc.iterdir() if path.is_file()}
    for core in ("nagios", "icinga2"):
        expected |= {f"{core}/{path.name}" for path in (etc / core).iterdir() if path.is_file()}
    desk = etc / "request-tracker"
    expected |= {f"request-tracker/{path.relative_to(desk)}" for path in desk.rglob("*")
                 if path.is_file()}
    assert carried == expected


def probes_of(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(name).decode())
    return sorted(entry_points["console_scripts"])


def install(python: str, find_links: Path, venv: Path) -> subprocess.CompletedProcess:
    """The install of docs/integration.md, with no way out to the network when we may cut it."""
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    command = [str(venv / "bin" / "pip"), "install", "--no-index", "--find-links",
               str(find_links), "iaso-probes"]
    if os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "--net", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=offline_pip(find_links))


def interpreters() -> List[Optional[str]]:
    return [sys.executable, python39()]


@pytest.mark.parametrize("python", interpreters(), ids=["ok-python-of-venv", "ok-python3.9"])
def test_installs_offline_and_every_console_script_runs(
        built: Built, python: Optional[str], tmp_path: Path) -> None:
    if python is None:
        pytest.skip("no python3.9 with venv on this machine (RHEL 9's version)")
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    find_links = tmp_path / "wheels"
    find_links.mkdir()
    for wheel in wheelhouse(version).glob("*.whl"):
        shutil.copy2(wheel, find_links)
    shutil.copy2(built.wheel, find_links)
    venv = tmp_path / "opt-iaso-probes"
    installed = install(python, find_links, venv)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    release = re.search(r"^iaso_probes-([^-]+)-", built.wheel.name).group(1)  # type: ignore[union-attr]
    scripts = probes_of(built.wheel)
    assert [s for s in scripts if s.startswith("check_iaso_")] == sorted(
        path.stem for path in (built.source / "probes").glob("check_iaso_*.py"))
    for script in scripts:
        path = venv / "bin" / script
        if script.startswith("check_"):
            done = subprocess.run([str(path), "-V"], capture_output=True, text=True, timeout=60)
            assert (done.returncode, done.stdout) == (3, f"{script} (iaso-probes) {release}\n"), \
                (script, done.stderr[-2000:])
        else:
            done = subprocess.run([str(path), "--help"], capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0 and done.stdout.startswith(f"Usage: {script} "), \
                (script, done.stdout[-500:], done.stderr[-2000:])
    share = venv / "share" / "iaso-probes"
    assert (share / "iaso.yaml").is_file() and (share / "nagios" / "commands.cfg").is_file()
    assert (share / "icinga2" / "iaso-services.conf").is_file()


def test_ok_sdist_carries_etc_docs_and_tests(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    tracked = {path.relative_to(built.source).as_posix()
               for top in ("etc", "docs", "tests", "scripts", "bench")
               for path in (built.source / top).rglob("*") if path.is_file()}
    missing = {name for name in tracked if "__pycache__" not in name} - names
    assert not missing
    assert "README.md" in names and "setup.cfg" in names and "MANIFEST.in" in names
    assert not {name for name in names
                if name.startswith((".venv", ".wheelhouse", ".ecs", "build/"))}
