"""End to end in a real Icinga 2 (Debian's icinga2): the shipped etc/icinga2 files validated
and run against the simulator, results read back through livestatus (what Thruk reads)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import yaml
from conftest import PASSWORD, ROOT, USERNAME, play, require_core

BINARY = shutil.which("icinga2") or "/usr/sbin/icinga2"
require_core(BINARY, "icinga2-bin icinga2-common")

pytestmark = pytest.mark.integration


class Icinga:
    """A private Icinga 2 instance: its own directories, the shipped files included unchanged."""

    def __init__(self, work: Path, config: Path) -> None:
        self.work = work
        self.dirs = {name: work / name for name in ("data", "cache", "log", "spool", "run")}
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        self.socket = self.dirs["run"] / "livestatus"
        self.main = work / "icinga2.conf"
        self.main.write_text("\n".join([
            f'const IasoProbesDir = "{Path(sys.executable).parent}"',
            f'const IasoProbesConfig = "{config}"',
            "include <itl>",
            f'include "{ROOT / "etc" / "icinga2" / "iaso-commands.conf"}"',
            f'include "{ROOT / "etc" / "icinga2" / "iaso-services.conf"}"',
            f'include "{ROOT / "etc" / "icinga2" / "iaso-hosts.conf.sample"}"',
            'object CheckerComponent "checker" { }',
            f'object LivestatusListener "livestatus" {{ socket_type = "unix"\n'
            f'  socket_path = "{self.socket}" }}',
        ]) + "\n")
        self.process: Any = None

    def arguments(self) -> List[str]:
        user = __import__("pwd").getpwuid(os.getuid()).pw_name
        group = __import__("grp").getgrgid(os.getgid()).gr_name
        return ["-c", str(self.main), f"-DDataDir={self.dirs['data']}",
                f"-DCacheDir={self.dirs['cache']}", f"-DLogDir={self.dirs['log']}",
                f"-DSpoolDir={self.dirs['spool']}", f"-DInitRunDir={self.dirs['run']}",
                f"-DRunAsUser={user}", f"-DRunAsGroup={group}"]

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run([BINARY, "daemon", "-C", *self.arguments()], capture_output=True,
                              text=True, timeout=120)

    def start(self) -> None:
        self.process = subprocess.Popen([BINARY, "daemon", *self.arguments()],
                                        stdout=open(self.work / "daemon.log", "w"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.socket.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("icinga2 did not start: "
                                   + (self.work / "daemon.log").read_text()[-2000:])
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def query(self, text: str) -> Any:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.settimeout(10)
            connection.connect(str(self.socket))
            connection.sendall(text.encode() + b"\n\n")
            connection.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data) if data.strip() else None

    def services(self) -> Dict[str, Dict[str, Any]]:
        columns = ["description", "state", "plugin_output", "perf_data", "has_been_checked",
                   "long_plugin_output"]
        rows = self.query("GET services\nColumns: " + " ".join(columns) + "\nOutputFormat: json")
        return {row[0]: dict(zip(columns, row)) for row in rows}

    def force(self, service: str) -> None:
        now = int(time.time())
        self.query(f"COMMAND [{now}] SCHEDULE_FORCED_SVC_CHECK;iaso-prod;{service};{now}")

    def wait_for(self, service: str, state: int, output: str, timeout: float = 60) -> Dict:
        deadline = time.monotonic() + timeout
        last: Dict[str, Any] = {}
        next_force = 0.0
        while time.monotonic() < deadline:
            last = self.services().get(service, {})
            if last.get("has_been_checked") and last.get("state") == state \
                    and re.search(output, last.get("plugin_output", "")):
                return last
            if time.monotonic() >= next_force:
                self.force(service)
                next_force = time.monotonic() + 2
            time.sleep(0.3)
        raise AssertionError(f"{service} never reached {state} ~ {output!r}; last: {last}")


@pytest.fixture(scope="module")
def icinga(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Icinga]:
    play(simulator, {"job_speed": 60, "job_duration": 60})
    work = tmp_path_factory.mktemp("icinga2")
    secret = work / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    config = work / "iaso.yaml"
    config.write_text(yaml.safe_dump({"environments": {"prod": {
        "base_url": simulator.url,
        "credentials": {"username": USERNAME, "password_file": str(secret)},
        "jobs": {"state_dir": str(work / "state"), "backup_interval": 3600},
        "backup_sets": {"linux-vms": [{"hostname": "vm-a", "level": "incremental"}]},
        "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                    "source_path": "/etc", "destination": "/tmp/restore"}},
    }}}))
    instance = Icinga(work, config)
    validated = instance.validate()
    assert validated.returncode == 0, validated.stdout[-3000:]
    assert "Instantiated 6 Services" in validated.stdout
    assert "Instantiated 5 Dependencies" in validated.stdout
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        play(simulator, {})


def test_ok_every_check_command_runs(icinga: Icinga) -> None:
    expected = {
        "IASO life": r"^IASO LIFE OK - prod: answered in",
        "IASO health": r"^IASO HEALTH OK - prod: all 8 components healthy",
        "IASO response time": r"^IASO RESPONSE TIME OK - prod: life answered 3 times",
        "IASO auth": r"^IASO AUTH OK - prod: login as nagios accepted",
        "IASO backup linux-vms": r"^IASO BACKUP OK - prod: (launched 1 backup|1 of 1 backup)",
        "IASO restore hosts-file": r"^IASO RESTORE OK - prod: (launched 1 restore|1 of 1)",
    }
    for service, output in expected.items():
        status = icinga.wait_for(service, 0, output)
        assert status["perf_data"], status
    assert "time=" in icinga.services()["IASO life"]["perf_data"]


def test_crit_component_down_is_seen(icinga: Icinga, simulator: Any) -> None:
    play(simulator, {"components": {"index_db": "unhealthy"}})
    status = icinga.wait_for("IASO health", 2, r"1 of 8 components unhealthy: index_db")
    assert "CRITICAL index_db: unhealthy" in status["long_plugin_output"]
    play(simulator, {"job_speed": 60, "job_duration": 60})
    icinga.wait_for("IASO health", 0, r"all 8 components healthy")
