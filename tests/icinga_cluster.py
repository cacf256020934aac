"""A distributed Icinga 2 on loopback: a master and one high-availability zone of two satellite
endpoints, each a private instance of Debian's icinga2.

Each node is laid out as an operator's /etc/icinga2 of its own (icinga2.conf, constants.conf,
zones.conf) with its own data, cache, log, spool and run directories (the -D variables of
tests/icinga_core.py) and its own ApiListener port. The certificates come from `icinga2 pki`:
a CA in the master's data directory, where Icinga 2 keeps it, and for every endpoint a key and
a certificate signed by it. The objects are the master's
zones.d/<zone> files, sent to the satellites by Icinga 2's own config sync; each satellite
compiles them with its own constants.conf, which is how each one reaches a configuration file
of its own. Every instance is stopped by the PID in its own run directory, with a bounded wait.

Each node has a REST API user for the test: the master's API is where results are read; a
satellite's own API reschedules the checks it runs, which the master cannot do for the first
minute of a satellite's life. Every certificate is verified against the cluster's CA under the
endpoint's name (Icinga 2's certificates name the endpoint, not an address).

Private instances (-D variables) rather than mount namespaces: every path Icinga 2 uses here has
a variable (ZonesDir included), and each satellite's own paths for the probes come from its
constants.conf, the operator's own means; namespaces and overlays would only make the three
nodes' paths look alike, which nothing here needs.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import requests
from icinga2_core import free_port
from icinga_core import BINARY, INSTANCE_DIRECTORIES, private_instance
from requests.adapters import HTTPAdapter

MASTER = "master"
MASTER_ZONE = "master"
SATELLITES = ("satellite-1", "satellite-2")
SATELLITE_ZONE = "satellite"
DRIVER = "driver"
DRIVER_PASSWORD = "cluster-driver-password"
STOP_TIMEOUT = 20.0


class EndpointName(HTTPAdapter):
    """TLS to an Icinga 2 endpoint: the chain checked against the cluster's CA, the name against
    the endpoint's (the CN `icinga2 pki new-cert` writes; it carries no address)."""

    def __init__(self, name: str) -> None:
        self.endpoint = name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_hostname"] = self.endpoint
        super().init_poolmanager(*args, **kwargs)


class Node:
    """One Icinga 2 instance of the cluster: its files, its port, its process."""

    def __init__(self, name: str, home: Path) -> None:
        self.name = name
        self.home = home
        self.dirs = {directory: home / directory for directory in INSTANCE_DIRECTORIES}
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        self.main = home / "icinga2.conf"
        self.zones_dir = home / "zones.d"
        self.certs = self.dirs["data"] / "certs"
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None
        self.log = home / "daemon.log"
        self.url = f"https://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.dirs["run"] / "icinga2.pid"

    def arguments(self) -> List[str]:
        return [*private_instance(self.main, self.dirs), f"-DNodeName={self.name}",
                f"-DZonesDir={self.zones_dir}"]

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run([BINARY, "daemon", "-C", *self.arguments()], capture_output=True,
                              text=True, timeout=120)

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.process = subprocess.Popen([BINARY, "daemon", *self.arguments()], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> float:
        """SIGTERM to the PID the instance wrote in its run directory (the process it started
        as, which owns the workers), then a wait of at most STOP_TIMEOUT seconds before SIGKILL
        to its process group; the seconds it took."""
        if self.process is None:
            return 0.0
        started = time.monotonic()
        pid = self._written_pid() or self.process.pid
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = started + STOP_TIMEOUT
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
            while _group_alive(self.process.pid):   # its workers, which it signals in turn
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired("icinga2", STOP_TIMEOUT)
                time.sleep(0.05)
        except subprocess.TimeoutExpired:
            _kill_group(self.process.pid)
            self.process.wait(timeout=10)
        self.process = None
        return time.monotonic() - started

    def _written_pid(self) -> Optional[int]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.running:
            try:
                return int(self.pid_file.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.1)
        return None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Cluster:
    """The master and the two satellites.

    ``zone_files``: name → text of the files the master keeps in zones.d/<satellite zone>
    (the shipped objects and the test's hosts); ``constants``: endpoint name → the constants of
    its own constants.conf (the master's too: it compiles the zone's files as well).
    """

    def __init__(self, work: Path, zone_files: Mapping[str, str],
                 constants: Mapping[str, Mapping[str, str]]) -> None:
        self.work = work
        self.master = Node(MASTER, work / MASTER)
        self.satellites = {name: Node(name, work / name) for name in SATELLITES}
        self.nodes = [self.master, *self.satellites.values()]
        self.session = requests.Session()
        for node in self.nodes:
            self.session.mount(node.url, EndpointName(node.name))
        self.session.auth = (DRIVER, DRIVER_PASSWORD)
        self.ca = self.master.certs / "ca.crt"
        self._issue_certificates()
        zone_dir = self.master.zones_dir / SATELLITE_ZONE
        zone_dir.mkdir(parents=True)
        for name, text in zone_files.items():
            (zone_dir / name).write_text(text)
        for node in self.nodes:
            self._write_node(node, constants.get(node.name, {}))

    # --- files ---------------------------------------------------------------------------------

    def _pki(self, *arguments: str) -> None:
        done = subprocess.run([BINARY, "pki", *arguments, *_runtime(self.master)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"icinga2 pki {arguments[0]}: {done.stdout}{done.stderr}")

    def _issue_certificates(self) -> None:
        """The CA on the master (`pki new-ca` writes data/ca/ca.{crt,key}); each endpoint's key
        and CSR (`pki new-cert`), signed by that CA (`pki sign-csr`), in its data/certs/ under
        its endpoint name, next to the CA's certificate, where its ApiListener reads them."""
        self._pki("new-ca")
        authority = self.master.dirs["data"] / "ca" / "ca.crt"
        for node in self.nodes:
            node.certs.mkdir(parents=True, exist_ok=True)
            key, csr = node.certs / f"{node.name}.key", node.certs / f"{node.name}.csr"
            self._pki("new-cert", "--cn", node.name, "--key", str(key), "--csr", str(csr))
            self._pki("sign-csr", "--csr", str(csr), "--cert", str(node.certs / f"{node.name}.crt"))
            shutil.copyfile(authority, node.certs / "ca.crt")

    def zones_conf(self) -> str:
        """The same zones.conf on every node, as Icinga 2 documents for an HA zone: every
        endpoint with its address (any two of them connect), the satellite zone under the
        master's."""
        endpoints = "\n".join(f'object Endpoint "{node.name}" {{ host = "127.0.0.1"; '
                              f'port = {node.port} }}' for node in self.nodes)
        members = ", ".join(f'"{name}"' for name in SATELLITES)
        return (f"{endpoints}\n"
                f'object Zone "{MASTER_ZONE}" {{ endpoints = [ "{MASTER}" ] }}\n'
                f'object Zone "{SATELLITE_ZONE}" {{ endpoints = [ {members} ]; '
                f'parent = "{MASTER_ZONE}" }}\n')

    def _write_node(self, node: Node, constants: Mapping[str, str]) -> None:
        (node.home / "constants.conf").write_text(
            "".join(f'const {name} = "{value}"\n' for name, value in constants.items()))
        (node.home / "zones.conf").write_text(self.zones_conf())
        is_master = node is self.master
        lines = [
            f'include "{node.home / "constants.conf"}"',
            f'include "{node.home / "zones.conf"}"',
            "include <itl>",
            f'object ApiListener "api" {{\n  bind_host = "127.0.0.1"\n  bind_port = {node.port}\n'
            f"  accept_config = {str(not is_master).lower()}\n"
            f"  accept_commands = {str(not is_master).lower()}\n}}",
            'object CheckerComponent "checker" { }',
        ]
        lines.append(f'object ApiUser "{DRIVER}" {{ password = "{DRIVER_PASSWORD}"\n'
                     '  permissions = [ "*" ] }')
        node.main.write_text("\n".join(lines) + "\n")

    # --- processes -----------------------------------------------------------------------------

    def validate(self) -> subprocess.CompletedProcess:
        """The master's validation: it compiles the zone's files too."""
        return self.master.validate()

    def start(self, timeout: float = 60) -> None:
        """Start every node; return once the master sees both satellites and each satellite
        runs the zone's hosts (the config sync makes each reload once, at its first
        connection)."""
        for node in self.nodes:
            node.start()
        self.wait_connected(SATELLITES, timeout)
        deadline = time.monotonic() + timeout
        for name in SATELLITES:
            while not self._runs_zone_objects(name):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} never loaded the zone's objects: "
                                       + self.node(name).log_text()[-3000:])
                time.sleep(0.3)
        self.wait_connected(SATELLITES, timeout)

    def _runs_zone_objects(self, name: str) -> bool:
        try:
            return bool(self.api("GET", "/v1/objects/hosts", {"attrs": ["zone"]},
                                 name)["results"])
        except (requests.RequestException, AssertionError):
            return False

    def wait_connected(self, names: Sequence[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            dead = [node.name for node in self.nodes if node.process is not None
                    and not node.running]
            if dead:
                raise RuntimeError(f"icinga2 {dead[0]} exited: "
                                   + self.node(dead[0]).log_text()[-3000:])
            try:
                last = self.connected()
                if all(last.get(name) for name in names):
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        raise RuntimeError(f"satellites {list(names)} not connected to the master: {last}; "
                           + self.master.log_text()[-3000:])

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def stop(self) -> Dict[str, float]:
        """Every node, satellites first; the seconds each stop took."""
        return {node.name: node.stop() for node in reversed(self.nodes)}

    # --- the REST API of each node (the master's unless said) ----------------------------------

    def api(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
            node: str = MASTER) -> Any:
        headers = {"Accept": "application/json"}
        if method == "GET" and body is not None:
            method, headers["X-HTTP-Method-Override"] = "POST", "GET"
        answer = self.session.request(method, self.node(node).url + path, json=body,
                                      headers=headers, verify=str(self.ca), timeout=30)
        if answer.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def connected(self) -> Dict[str, bool]:
        found = self.api("GET", "/v1/objects/endpoints", {"attrs": ["connected"]})
        return {row["name"]: bool(row["attrs"]["connected"]) for row in found["results"]}

    SERVICE_ATTRS = ["state", "last_check", "last_check_result", "check_interval",
                     "retry_interval", "zone"]

    def services(self, filter_: str = "true", node: str = MASTER) -> Dict[str, Dict[str, Any]]:
        """Every matching service as ``node`` sees it, by full name (host!service)."""
        found = self.api("GET", "/v1/objects/services",
                         {"filter": filter_, "attrs": self.SERVICE_ATTRS}, node)
        return {row["name"]: dict(row["attrs"]) for row in found["results"]}

    def modify(self, filter_: str, attrs: Mapping[str, Any]) -> int:
        """Change attributes of matching services at runtime, as an operator does through the
        master's API: the cluster carries the change to the zone's endpoints."""
        found = self.api("POST", "/v1/objects/services", {"filter": filter_,
                                                          "attrs": dict(attrs)})
        return len(found["results"])

    def reschedule(self, filter_: str, node: str = MASTER) -> None:
        """A forced check now. From the master it reaches a satellite only once that one has
        run 60 s (Icinga 2 drops a cluster 'next check' older than its start plus 60 s); on a
        satellite's own API it is immediate for the checks that endpoint runs."""
        self.api("POST", "/v1/actions/reschedule-check",
                 {"type": "Service", "filter": filter_, "force": True}, node)


def _runtime(node: Node) -> List[str]:
    """The -D variables a CLI command needs to act on ``node``'s files as this user."""
    return [argument for argument in node.arguments()
            if argument.startswith(("-DDataDir=", "-DLogDir=", "-DRunAsUser=",
                                    "-DRunAsGroup=", "-DCacheDir="))]
