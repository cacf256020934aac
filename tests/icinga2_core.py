"""A private Icinga 2 (Debian's icinga2) with its REST API, for the service-desk and fleet
tests.

Its own directories (icinga_core.private_instance), the test's object files included unchanged,
an API listener on 127.0.0.1 whose certificate is signed by a CA made for the run (clients
verify it), the test driver's API user and those the test asks for, stopped by PID.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import requests
from certificates import Authority
from icinga_core import BINARY, INSTANCE_DIRECTORIES, private_instance
from process_group import stop_group

NODE = "icinga-e2e"
DRIVER_PASSWORD = "driver-password-for-tests"
SYNC_USER = "iaso-sync"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_pki(directory: Path) -> Path:
    """A CA and the node's certificate (SAN the node's name, localhost and 127.0.0.1), where
    the daemon looks for them; returns the CA's path."""
    authority = Authority(directory, "iaso tests CA", ca_file="ca.crt")
    authority.issue(NODE, hosts=(NODE, "localhost", "127.0.0.1"), valid_until=2, suffix=".crt")
    return authority.ca_path


class IcingaCore:
    """A private Icinga 2 with its API on loopback: ``lines`` (constants, includes, objects)
    after the API's own objects, and ``users``, API users beside the test driver (name:
    password and permissions)."""

    def __init__(self, work: Path, lines: Sequence[str],
                 users: Mapping[str, Tuple[str, Sequence[str]]]) -> None:
        self.work = work
        self.dirs = {name: work / name for name in INSTANCE_DIRECTORIES}
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = make_pki(self.dirs["data"] / "certs")
        self.main = work / "icinga2.conf"
        api_users = [f'object ApiUser "{name}" {{ password = "{password}"\n'
                     f'  permissions = {json.dumps(list(permissions))} }}'
                     for name, (password, permissions) in
                     {"driver": (DRIVER_PASSWORD, ["*"]), **users}.items()]
        self.main.write_text("\n".join([
            *lines,
            "object Endpoint NodeName { }",
            'object Zone "master" { endpoints = [ NodeName ] }',
            f'object ApiListener "api" {{ bind_host = "127.0.0.1"\n  bind_port = {self.port} }}',
            *api_users,
            'object NotificationComponent "notification" { }',
            'object CheckerComponent "checker" { }',
        ]) + "\n")
        self.process: Optional[subprocess.Popen] = None

    def arguments(self) -> List[str]:
        return [*private_instance(self.main, self.dirs), f"-DNodeName={NODE}"]

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run([BINARY, "daemon", "-C", *self.arguments()], capture_output=True,
                              text=True, timeout=120)

    def start(self) -> None:
        with open(self.work / "daemon.log", "w") as log:
            self.process = subprocess.Popen([BINARY, "daemon", *self.arguments()], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.api("GET", "/v1/status/ApiListener", quiet=True) is not None:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("icinga2 did not start: "
                           + (self.work / "daemon.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.process is None:
            return
        stop_group(self.process, 30)
        self.process = None

    def api(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
            quiet: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        if method == "GET" and body is not None:
            method, headers["X-HTTP-Method-Override"] = "POST", "GET"
        answer = requests.request(method, self.url + path, json=body, headers=headers,
                                  auth=("driver", DRIVER_PASSWORD), verify=str(self.ca),
                                  timeout=30)
        if quiet and answer.status_code >= 400:
            return None
        assert answer.status_code < 400, (answer.status_code, answer.text[:500])
        return answer.json()

    def result(self, host: str, service: Optional[str], state: int, output: str) -> None:
        body: Dict[str, Any] = {"exit_status": state, "plugin_output": output}
        if service:
            body.update(type="Service", filter="host.name==h && service.name==s",
                        filter_vars={"h": host, "s": service})
        else:
            body.update(type="Host", filter="host.name==h", filter_vars={"h": host})
        self.api("POST", "/v1/actions/process-check-result", body)

    def attrs(self, host: str, service: str, names: List[str]) -> Dict[str, Any]:
        data = self.api("GET", "/v1/objects/services", {
            "filter": "host.name==h && service.name==s",
            "filter_vars": {"h": host, "s": service}, "attrs": names})
        return dict(data["results"][0]["attrs"])

    def comments(self, host: str, service: str) -> List[str]:
        data = self.api("GET", "/v1/objects/comments", {
            "filter": "host.name==h && service.name==s",
            "filter_vars": {"h": host, "s": service}, "attrs": ["text", "entry_type"]})
        return [r["attrs"]["text"] for r in data["results"]]
