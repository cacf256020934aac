"""Every probe against every hostile behaviour, as a subprocess, as a core runs it.

For each run: the exit code the state policy expects, one first line without traceback and
without '|' outside perfdata, under 8 KB in all, finished within -t plus 0.5 s, stderr empty, and
no secret in stdout, stderr, the application log or the results log. The table of states seen
and the slowest run against its timeout are printed at the end (docs/reliability.md)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
import yaml
from conftest import ROOT
from hostile_server import BEHAVIOURS, PASSWORD, PROBES, HostileServer, make_pki

TIMEOUT = 3.0
ARGS = {"life": [], "health": [], "response_time": ["-n", "2"], "auth": [],
        "backup": ["-H", "vm-a", "--wait"], "restore": ["-R", "hosts-file", "--wait"]}
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
SEEN: Dict[Tuple[str, str], Tuple[int, float]] = {}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[HostileServer, Path]]:
    pki = make_pki(tmp_path_factory.mktemp("hostile-pki"))
    server = HostileServer(pki)
    yield server, pki
    server.stop()


def config_for(work: Path, base_url: str, pki: Path) -> Path:
    secret = work / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    path = work / "iaso.yaml"
    path.write_text(yaml.safe_dump({
        "logging": {"results": str(work / "results.jsonl"),
                    "application": str(work / "app.log"), "level": "debug"},
        "environments": {"lab": {
            "base_url": base_url,
            "credentials": {"username": "nagios", "password_file": str(secret)},
            "tls": {"ca_bundle": str(pki / "ca.pem")},
            "proxy": "none",
            "jobs": {"state_dir": str(work / "state"), "poll_interval": 0.3},
            "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                        "source_path": "/etc", "destination": "/tmp/r"}},
        }}}))
    return path


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_every_probe_keeps_its_promises(behaviour: str, hostile: Any, tmp_path: Path) -> None:
    server, pki = hostile
    config = config_for(tmp_path, server.base_url(behaviour), pki)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    failures = []
    for probe in PROBES:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"iaso_probes.check_iaso_{probe}", "-C",
                               str(config), "-t", f"{TIMEOUT:g}", *ARGS[probe]],
                              capture_output=True, text=True, env=env, timeout=60)
        elapsed = time.monotonic() - started
        SEEN[(behaviour, probe)] = (done.returncode, elapsed)
        expected = BEHAVIOURS[behaviour].expected.get(probe, 2)
        first = done.stdout.partition("\n")[0].partition(" | ")[0]
        checks = {
            f"exit {done.returncode}, expected {expected}": done.returncode == expected,
            "first line names the probe": first.startswith("IASO "),
            "no traceback": "Traceback" not in done.stdout,
            "no '|' in the status text": "|" not in first,
            "under 8 KB": len(done.stdout.encode()) < 8192,
            f"within -t + 0.5 s ({elapsed:.2f} s)": elapsed <= TIMEOUT + 0.5,
            "stderr empty": done.stderr == "",
            "nothing injected as a line of its own": not any(
                line.startswith(("X-Injected", "IASO LIFE OK - fake"))
                for line in done.stdout.splitlines()),
        }
        logs = "".join(p.read_text(errors="replace") for p in
                       (tmp_path / "app.log", tmp_path / "results.jsonl") if p.exists())
        checks["no secret anywhere"] = PASSWORD not in done.stdout + done.stderr + logs and \
            not any(token in done.stdout + logs for token in server.contract.issued)
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            failures.append(f"{probe}: {', '.join(failed)}\n    {done.stdout[:300]!r}")
    assert not failures, "\n".join(failures)


def test_report_the_matrix(capsys: pytest.CaptureFixture) -> None:
    if not SEEN:
        pytest.skip("the matrix did not run")
    behaviours = sorted({b for b, _ in SEEN})
    width = max(len(b) for b in behaviours)
    lines = [f"{'behaviour':{width}}  " + " ".join(f"{p[:13]:>13}" for p in PROBES)]
    for behaviour in behaviours:
        cells = [STATE_NAMES[SEEN[(behaviour, p)][0]] if (behaviour, p) in SEEN else "-"
                 for p in PROBES]
        lines.append(f"{behaviour:{width}}  " + " ".join(f"{c:>13}" for c in cells))
    (slow_b, slow_p), (_, slowest) = max(SEEN.items(), key=lambda item: item[1][1])
    counts = {name: sum(1 for code, _ in SEEN.values() if STATE_NAMES[code] == name)
              for name in STATE_NAMES}
    lines.append(f"{len(behaviours)} behaviours x {len(PROBES)} probes = {len(SEEN)} runs; "
                 f"states seen: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append(f"slowest run: {slow_p} on {slow_b}, {slowest:.2f} s for -t {TIMEOUT:g} "
                 f"({slowest / TIMEOUT:.2f}x)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert slowest <= TIMEOUT + 0.5
