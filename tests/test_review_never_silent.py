"""Review: programs that outlive their -t, or end with a traceback instead of a line.

The service-desk commands run as core checks (etc/nagios/servicedesk.cfg) and as the core's
notification command; the profile doctor promises "-t: time for the whole walk". Each case
was reproduced with a loopback server; each fails today.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from conftest import ROOT, write_config
from review_servers import Dripping, Fixed

from libiaso.servicedesk.notification import build
from libiaso.servicedesk.spool import Spool

BIN = Path(sys.executable).parent


def run(argv: List[str], limit: float = 20) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), IASO_PROBES_CACHE_DIR="off")
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=limit,
                              env=environment)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv[:3])}... still running after {limit:g} s", pytrace=False)


def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "rt.token"
    path.write_text("1-2-review-desk-token\n")
    path.chmod(0o600)
    return path


def spooled_problem(spool: Path) -> None:
    Spool(str(spool)).put(build(core="nagios", origin="nagios", kind="PROBLEM", host="h",
                                service="s", state="CRITICAL", problem_id="5",
                                last_problem_id="0"))


def test_warn_sync_ends_within_t_when_the_desk_drips_during_its_flush(tmp_path: Path) -> None:
    """iaso-servicedesk-sync flushes the spool before it arms its deadline (commands.sync):
    RT's socket read timeout never trips on a drip, so -t 4 does not hold."""
    desk = Dripping()
    spooled_problem(tmp_path / "spool")
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\nrequest_timeout: 5\ndesk:\n"
                      f"  kind: rt-rest\n  url: {desk.url}\n  token_file: {token_file(tmp_path)}\n"
                      f"acknowledge:\n  nagios_command_file: {tmp_path / 'nagios.cmd'}\n")
    try:
        started = time.monotonic()
        done = run([str(BIN / "iaso-servicedesk-sync"), "-C", str(config), "-t", "4"])
        elapsed = time.monotonic() - started
    finally:
        desk.close()
    assert elapsed < 7, elapsed
    assert done.returncode == 1 and done.stdout.startswith("SERVICEDESK SYNC WARNING"), done


def test_ok_notify_with_a_fifo_as_journal_ends_and_keeps_the_notification(
        tmp_path: Path) -> None:
    """commands.Journal opens its file with a plain blocking open (not local_files.open_regular),
    before the deadline is armed: a FIFO named as the journal hangs the core's notification
    command."""
    journal = tmp_path / "journal"
    os.mkfifo(journal)
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\njournal: {journal}\ndesk:\n"
                      f"  kind: rt-rest\n  url: http://127.0.0.1:9\n"
                      f"  token_file: {token_file(tmp_path)}\n")
    started = time.monotonic()
    done = run([sys.executable, "-m", "libiaso.servicedesk", "-C", str(config), "-t", "3",
                "--type", "PROBLEM", "--host", "h", "--state", "DOWN", "--problem-id", "3"],
               limit=20)
    assert time.monotonic() - started < 8
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "spool" / "queue").iterdir())) == 1


def test_crit_doctor_ends_within_t_against_an_api_that_drips(tmp_path: Path) -> None:
    """iaso-profile-doctor builds a Deadline but never arms it: a drip keeps it for hours."""
    api = Dripping()
    try:
        started = time.monotonic()
        done = run([sys.executable, "-m", "libiaso.doctor.command", "-C",
                    str(write_config(tmp_path, api.url + "/api/v1")), "-t", "3"])
        elapsed = time.monotonic() - started
    finally:
        api.close()
    assert elapsed < 6, elapsed
    assert "no complete answer" in done.stdout, done


def test_unknown_sync_with_an_unusable_spool_says_why_on_stdout(tmp_path: Path) -> None:
    """sync catches IasoError but not OSError around its flush (flush catches both): a spool
    whose lock cannot be opened (owned by root after a manual run, say) gives a traceback."""
    (tmp_path / "spool" / ".lock").mkdir(parents=True)
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n"
                      f"  url: http://127.0.0.1:9\n  token_file: {token_file(tmp_path)}\n"
                      f"acknowledge:\n  nagios_command_file: {tmp_path / 'nagios.cmd'}\n")
    done = run([str(BIN / "iaso-servicedesk-sync"), "-C", str(config), "-t", "5"])
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 3 and done.stdout.startswith("SERVICEDESK SYNC UNKNOWN"), done


def test_warn_desk_answer_of_an_unexpected_shape_waits_in_the_spool_without_traceback(
        tmp_path: Path) -> None:
    """rt_rest.Ticket trusts the shape of RT's answer: a custom field whose values are not a
    list raises TypeError out of every flush (a traceback as the core check's only output), and
    the queue never moves again while that ticket exists."""
    desk = Fixed(200, b'{"items": [{"id": 1, "Status": "open", "CustomFields": '
                      b'[{"name": "IASO problem key", "values": 5}]}]}')
    spooled_problem(tmp_path / "spool")
    config = tmp_path / "servicedesk.yaml"
    config.write_text(f"spool: {tmp_path / 'spool'}\ndesk:\n  kind: rt-rest\n"
                      f"  url: {desk.url}\n  token_file: {token_file(tmp_path)}\n")
    try:
        done = run([str(BIN / "iaso-servicedesk-flush"), "-C", str(config), "-t", "5"])
    finally:
        desk.close()
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 1 and done.stdout.startswith("SERVICEDESK SPOOL WARNING"), done
    assert len(list((tmp_path / "spool" / "queue").iterdir())) == 1
