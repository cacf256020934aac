"""The pictures of the documentation are there and can be made again.

CI does not run scripts/screenshots (its pictures are judged by eye; it needs chromium, apache2
and nagios4-cgi on top of the suite): what is checked here is cheap, that every picture a page
shows is a real PNG of a browser's size, and that the script and its program still start.
"""
from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def png_size(path: Path) -> Tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def pictures() -> list:
    found = []
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            found.append((page, target))
    return found


def test_ok_integration_page_shows_the_three_pictures() -> None:
    shown = {target for page, target in pictures() if page.name == "integration.md"}
    assert shown == {"images/nagios-services-ok.png", "images/nagios-services-faults.png",
                     "images/nagios-health-detail.png"}


@pytest.mark.parametrize("page,target", pictures(), ids=lambda v: getattr(v, "name", v))
def test_ok_every_picture_is_a_png_of_a_browser_window(page: Path, target: str) -> None:
    width, height = png_size((page.parent / target).resolve())
    assert width >= 1024 and height >= 600, (target, width, height)


def test_ok_screenshot_script_and_program_start() -> None:
    script = ROOT / "scripts" / "screenshots"
    assert script.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "nagios_screenshots.py"),
                           "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--out" in done.stdout, done.stderr
