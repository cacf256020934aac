"""The distribution as an operator gets it: a clean copy of the checkout, the wheels built from it
without the package index, and the Pythons of the two supported systems (Debian 12's 3.11,
RHEL 9's 3.9)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / ".wheelhouse"
THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def clean_copy(destination: Path) -> Path:
    """The files a commit of the working tree would hold: tracked and new ones, nothing ignored
    (no .venv, no build/, no egg-info)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def wheelhouse(version: str) -> Path:
    """Dependency and build wheels for one Python version (scripts/install-wheelhouse)."""
    path = WHEELHOUSE / f"py{version}"
    if not any(path.glob("*.whl")):
        if os.environ.get("CI"):
            pytest.fail(f"{path} is empty: scripts/test runs scripts/install-wheelhouse first",
                        pytrace=False)
        pytest.skip(f"{path} is empty: run scripts/install-wheelhouse")
    return path


def python39() -> Optional[str]:
    """RHEL 9's Python version, when this machine has one (with venv and ensurepip)."""
    candidates = [shutil.which("python3.9") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 9)"],
            capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def offline_pip(find_links: Path) -> Dict[str, str]:
    """Environment for a pip that may not reach any index and keeps no cache of its own."""
    environment = dict(os.environ)
    environment.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links),
                        "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                        "PIP_CONFIG_FILE": os.devnull})
    return environment


def build_wheels(source: Path, destination: Path) -> Path:
    """`pip wheel --wheel-dir DEST SOURCE`, as docs/integration.md builds, fed from the wheelhouse:
    the project's wheel and every dependency's, in one directory."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(destination), str(source)],
        capture_output=True, text=True, env=offline_pip(wheelhouse(THIS_PYTHON)), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return destination
