"""A private Nagios 4 core for end-to-end tests: its own directories, a 1-second time unit,
the shipped etc/nagios files included unchanged, only paths and $USERn$ macros filled in."""
from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["commands.cfg", "templates.cfg", "contacts.cfg", "lab.cfg", "qualif.cfg", "prod.cfg",
           "servicedesk.cfg"]
BINARY = shutil.which("nagios4") or "/usr/sbin/nagios4"


class NagiosCore:
    def __init__(self, work: Path, probes_dir: Path, config: Path,
                 objects: Optional[Path] = None, *, servicedesk: Optional[Path] = None,
                 extra_objects: Sequence[Path] = (), settings: Sequence[str] = (),
                 enter: Sequence[str] = (), environment: Optional[Dict[str, str]] = None,
                 sendmail: Optional[Path] = None) -> None:
        """``servicedesk``: the service-desk configuration ($USER13$; by default mail through
        the sendmail below, spooled under ``work``); ``extra_objects``: more object files;
        ``settings``: nagios.cfg lines that replace the defaults below, name by name;
        ``enter``: a prefix that runs the core elsewhere (the namespace of
        tests/operator_host.py); ``environment``: variables added to the core's own, which its
        checks inherit."""
        self.work = work
        self.enter = list(enter)
        self.environment = dict(os.environ, **(environment or {}))
        self.var = work / "var"
        self.mails = work / "mails"
        self.objects = objects or ROOT / "etc" / "nagios"
        self.pid: Optional[int] = None
        for directory in (self.var, self.var / "spool", self.mails):
            directory.mkdir(parents=True, exist_ok=True)
        if sendmail is None:     # $USER12$: by default, a script that keeps mails in ``mails``
            sendmail = work / "sendmail"
            sendmail.write_text(f'#!/bin/sh\ncat > "{self.mails}/mail-$(date +%s%N)-$$.eml"\n')
            sendmail.chmod(0o755)
        if servicedesk is None:
            servicedesk = work / "servicedesk.yaml"
            servicedesk.write_text(f"spool: {work / 'desk-spool'}\ndesk: {{kind: mail}}\n")
        (work / "resource.cfg").write_text(
            f"$USER10$={probes_dir}\n$USER11$={config}\n$USER12$={sendmail}\n"
            f"$USER13$={servicedesk}\n")
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        lines = [f"cfg_file={self.objects / name}" for name in SHIPPED] + [
            f"cfg_file={path}" for path in extra_objects] + [
            f"resource_file={work / 'resource.cfg'}",
            f"log_file={self.var / 'nagios.log'}",
            f"object_cache_file={self.var / 'objects.cache'}",
            f"precached_object_file={self.var / 'objects.precache'}",
            f"status_file={self.var / 'status.dat'}",
            f"command_file={self.var / 'nagios.cmd'}",
            f"lock_file={self.var / 'nagios.lock'}",
            f"temp_file={self.var / 'nagios.tmp'}",
            f"temp_path={self.var}",
            f"check_result_path={self.var / 'spool'}",
            f"query_socket={self.var / 'nagios.qh'}",
            f"state_retention_file={self.var / 'retention.dat'}",
            f"nagios_user={user}", f"nagios_group={group}",
            "retain_state_information=0", "status_update_interval=1",
            "check_external_commands=1", "interval_length=1",
            "service_inter_check_delay_method=n", "max_service_check_spread=1",
            "check_result_reaper_frequency=1", "enable_notifications=1",
            "execute_service_checks=1", "service_check_timeout=60",
            "enable_flap_detection=0", "soft_state_dependencies=0", "log_notifications=1",
            "use_syslog=0", "enable_environment_macros=0",
            "illegal_macro_output_chars=`~$&|'\"<>",
        ]
        replaced = {line.split("=", 1)[0] for line in settings}
        lines = [line for line in lines if line.split("=", 1)[0] not in replaced] + list(settings)
        self.main_config = work / "nagios.cfg"
        self.main_config.write_text("\n".join(lines) + "\n")

    def verify(self) -> subprocess.CompletedProcess:
        return subprocess.run([*self.enter, BINARY, "-v", str(self.main_config)],
                              capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        subprocess.run([*self.enter, BINARY, "-d", str(self.main_config)], check=True,
                       timeout=30, env=self.environment)
        lock = self.var / "nagios.lock"
        for _ in range(100):
            if lock.exists() and lock.read_text().strip():
                self.pid = int(lock.read_text().strip())
                return
            time.sleep(0.1)
        raise RuntimeError("nagios4 did not start: " + self.log()[-2000:])

    def stop(self) -> None:
        """Stop the core by PID and wait, bounded, for it (and its workers) to go."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def log(self) -> str:
        path = self.var / "nagios.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self, line: str) -> None:
        """One external command, written to the core's FIFO once the core has made it (opened
        too early, the path would become a plain file and the command lost)."""
        path = self.var / "nagios.cmd"
        for _ in range(200):
            if path.is_fifo():
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{path} is not the core's command FIFO")
        with open(path, "w") as pipe:
            pipe.write(f"[{int(time.time())}] {line}\n")

    def force_checks(self, host: str) -> None:
        self.command(f"SCHEDULE_FORCED_HOST_SVC_CHECKS;{host};{int(time.time())}")

    def services(self) -> Dict[tuple, Dict[str, str]]:
        """servicestatus blocks of status.dat by (host, service)."""
        path = self.var / "status.dat"
        if not path.exists():
            return {}
        found = {}
        for block in re.findall(r"servicestatus \{\n(.*?)\n\s*\}", path.read_text(), re.S):
            fields = dict(line.strip().split("=", 1) for line in block.splitlines()
                          if "=" in line)
            found[(fields["host_name"], fields["service_description"])] = fields
        return found

    def hosts(self) -> Dict[str, Dict[str, str]]:
        """hoststatus blocks of status.dat by host name."""
        path = self.var / "status.dat"
        if not path.exists():
            return {}
        found = {}
        for block in re.findall(r"hoststatus \{\n(.*?)\n\s*\}", path.read_text(), re.S):
            fields = dict(line.strip().split("=", 1) for line in block.splitlines()
                          if "=" in line)
            found[fields["host_name"]] = fields
        return found

    def wait_for_host(self, host: str, state: int, output: str = "",
                      timeout: float = 60) -> Dict[str, str]:
        """Wait until the host is in ``state`` (0 UP, 1 DOWN), HARD, with matching output."""
        deadline = time.monotonic() + timeout
        last: Dict[str, str] = {}
        next_force = 0.0
        while time.monotonic() < deadline:
            last = self.hosts().get(host, {})
            if last.get("has_been_checked") == "1" and int(last["current_state"]) == state \
                    and last["state_type"] == "1" and re.search(output, last["plugin_output"]):
                return last
            if time.monotonic() >= next_force:
                self.command(f"SCHEDULE_FORCED_HOST_CHECK;{host};{int(time.time())}")
                next_force = time.monotonic() + 2
            time.sleep(0.25)
        shown = {k: last.get(k) for k in ("current_state", "state_type", "plugin_output")}
        raise AssertionError(f"host {host} never reached state {state} (output~{output!r}); "
                             f"last: {shown}")

    def wait_for(self, host: str, service: str, state: int, hard: bool = True,
                 output: str = "", timeout: float = 60) -> Dict[str, str]:
        """Wait until the service is in ``state`` (HARD unless told) with matching output."""
        deadline = time.monotonic() + timeout
        last: Dict[str, str] = {}
        next_force = 0.0
        while time.monotonic() < deadline:
            last = self.services().get((host, service), {})
            if last.get("has_been_checked") == "1" and int(last["current_state"]) == state \
                    and (not hard or last["state_type"] == "1") \
                    and re.search(output, last.get("plugin_output", "")):
                return last
            if time.monotonic() >= next_force:
                self.command(f"SCHEDULE_FORCED_SVC_CHECK;{host};{service};{int(time.time())}")
                next_force = time.monotonic() + 2
            time.sleep(0.25)
        shown = {k: last.get(k) for k in ("current_state", "state_type", "current_attempt",
                                          "plugin_output")}
        raise AssertionError(f"{host}/{service} never reached state {state} "
                             f"(hard={hard}, output~{output!r}); last: {shown}")

    def sent_mails(self) -> List[str]:
        return [p.read_text() for p in sorted(self.mails.glob("*.eml"))]
