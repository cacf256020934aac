"""A private Icinga 2 instance (Debian's icinga2) for end-to-end tests: its own directories, the
iaso-probes object files included unchanged, results read back through livestatus (what Thruk
reads) and the resolved objects through the core's own object dump (what `icinga2 object list`
prints)."""
from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
BINARY = shutil.which("icinga2") or "/usr/sbin/icinga2"
OBJECT_FILES = ("iaso-commands.conf", "iaso-services.conf", "iaso-hosts.conf.sample")
INSTANCE_DIRECTORIES = ("data", "cache", "log", "spool", "run")


def private_instance(main: Path, dirs: Mapping[str, Path]) -> List[str]:
    """The daemon's arguments for an instance of its own: its main file, its directories (one
    per INSTANCE_DIRECTORIES name) instead of Debian's fixed ones, and this process's user."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return ["-c", str(main), f"-DDataDir={dirs['data']}", f"-DCacheDir={dirs['cache']}",
            f"-DLogDir={dirs['log']}", f"-DSpoolDir={dirs['spool']}",
            f"-DInitRunDir={dirs['run']}", f"-DRunAsUser={user}", f"-DRunAsGroup={group}"]


class Icinga:
    """``objects``: the directory of the three object files (the checkout's etc/icinga2 by
    default), ``names``: their names there; ``enter``: a prefix that runs the daemon elsewhere
    (tests/operator_host.py); ``environment``: variables added to the daemon's own."""

    def __init__(self, work: Path, config: Path, *, probes_dir: Optional[Path] = None,
                 objects: Optional[Path] = None, names: Sequence[str] = OBJECT_FILES,
                 enter: Sequence[str] = (), environment: Optional[Mapping[str, str]] = None,
                 ) -> None:
        self.work = work
        self.enter = list(enter)
        self.environment = dict(os.environ, **(environment or {}))
        self.dirs = {name: work / name for name in INSTANCE_DIRECTORIES}
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        self.socket = self.dirs["run"] / "livestatus"
        objects = objects or ROOT / "etc" / "icinga2"
        self.main = work / "icinga2.conf"
        self.main.write_text("\n".join([
            f'const IasoProbesDir = "{probes_dir or Path(sys.executable).parent}"',
            f'const IasoProbesConfig = "{config}"',
            "include <itl>",
            *[f'include "{objects / name}"' for name in names],
            'object CheckerComponent "checker" { }',
            f'object LivestatusListener "livestatus" {{ socket_type = "unix"\n'
            f'  socket_path = "{self.socket}" }}',
        ]) + "\n")
        self.process: Any = None

    def arguments(self) -> List[str]:
        return private_instance(self.main, self.dirs)

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run([*self.enter, BINARY, "daemon", "-C", *self.arguments()],
                              capture_output=True, text=True, timeout=120)

    def objects(self, kind: str) -> Iterator[Dict[str, Any]]:
        """The resolved objects of one type from the dump the last validation wrote: the
        records `icinga2 object list` prints, one netstring of JSON each."""
        data = (self.dirs["cache"] / "icinga2.debug").read_bytes()
        at = 0
        while at < len(data):
            colon = data.index(b":", at)
            length = int(data[at:colon])
            record = json.loads(data[colon + 1:colon + 1 + length])
            at = colon + 1 + length + 1
            if record["type"] == kind:
                yield record["properties"]

    def start(self) -> None:
        self.process = subprocess.Popen([*self.enter, BINARY, "daemon", *self.arguments()],
                                        stdout=open(self.work / "daemon.log", "w"),
                                        stderr=subprocess.STDOUT, env=self.environment)
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

    SERVICE_COLUMNS = ("description", "state", "plugin_output", "perf_data", "has_been_checked",
                       "long_plugin_output", "state_type")

    def services(self, host: str = "iaso-prod") -> Dict[str, Dict[str, Any]]:
        rows = self.query("GET services\nColumns: " + " ".join(self.SERVICE_COLUMNS)
                          + f"\nFilter: host_name = {host}\nOutputFormat: json")
        return {row[0]: dict(zip(self.SERVICE_COLUMNS, row)) for row in rows}

    def all_services(self) -> Dict[tuple, Dict[str, Any]]:
        columns = ("host_name", *self.SERVICE_COLUMNS)
        rows = self.query("GET services\nColumns: " + " ".join(columns) + "\nOutputFormat: json")
        return {(row[0], row[1]): dict(zip(columns, row)) for row in rows}

    HOST_COLUMNS = ("name", "state", "state_type", "plugin_output", "perf_data",
                    "has_been_checked")

    def hosts(self) -> Dict[str, Dict[str, Any]]:
        rows = self.query("GET hosts\nColumns: " + " ".join(self.HOST_COLUMNS)
                          + "\nOutputFormat: json")
        return {row[0]: dict(zip(self.HOST_COLUMNS, row)) for row in rows}

    def force(self, service: str, host: str = "iaso-prod") -> None:
        now = int(time.time())
        self.query(f"COMMAND [{now}] SCHEDULE_FORCED_SVC_CHECK;{host};{service};{now}")

    def force_host(self, host: str) -> None:
        now = int(time.time())
        self.query(f"COMMAND [{now}] SCHEDULE_FORCED_HOST_CHECK;{host};{now}")

    def wait_for(self, service: str, state: int, output: str, timeout: float = 60,
                 host: str = "iaso-prod") -> Dict:
        deadline = time.monotonic() + timeout
        last: Dict[str, Any] = {}
        next_force = 0.0
        while time.monotonic() < deadline:
            last = self.services(host).get(service, {})
            if last.get("has_been_checked") and last.get("state") == state \
                    and re.search(output, last.get("plugin_output", "")):
                return last
            if time.monotonic() >= next_force:
                self.force(service, host)
                next_force = time.monotonic() + 2
            time.sleep(0.3)
        raise AssertionError(f"{host}/{service} never reached {state} ~ {output!r}; "
                             f"last: {last}")

    def wait_for_host(self, host: str, state: int, output: str = "",
                      timeout: float = 60) -> Dict[str, Any]:
        """Wait until the host is in ``state`` (0 UP, 1 DOWN), HARD, with matching output."""
        deadline = time.monotonic() + timeout
        last: Dict[str, Any] = {}
        next_force = 0.0
        while time.monotonic() < deadline:
            last = self.hosts().get(host, {})
            if last.get("has_been_checked") and last.get("state") == state \
                    and last.get("state_type") == 1 \
                    and re.search(output, last.get("plugin_output", "")):
                return last
            if time.monotonic() >= next_force:
                self.force_host(host)
                next_force = time.monotonic() + 2
            time.sleep(0.3)
        raise AssertionError(f"host {host} never reached {state} ~ {output!r}; last: {last}")
