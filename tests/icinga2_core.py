"""A private Icinga 2 (Debian's icinga2) with its REST API, for the service-desk tests.

Its own directories (the -D overrides of tests/test_icinga2_e2e.py), the shipped
etc/icinga2/iaso-notifications.conf included unchanged, an API listener on 127.0.0.1 whose
certificate is signed by a CA made for the run (clients verify it), two API users (the test
driver; the way back, with only the permissions docs/service-desk.md asks for), stopped by PID.
"""
from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests

ROOT = Path(__file__).resolve().parent.parent
BINARY = shutil.which("icinga2") or "/usr/sbin/icinga2"
NODE = "icinga-e2e"
DRIVER_PASSWORD = "driver-password-for-tests"
SYNC_USER = "iaso-sync"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_pki(directory: Path) -> Path:
    """A CA and the node's certificate (SAN 127.0.0.1 and localhost); returns the CA path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iaso tests CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NODE)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(NODE), x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
    (directory / f"{NODE}.crt").write_bytes(cert.public_bytes(pem))
    (directory / f"{NODE}.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    (directory / f"{NODE}.key").chmod(0o600)
    return directory / "ca.crt"


class IcingaCore:
    def __init__(self, work: Path, objects: str, constants: Dict[str, str],
                 sync_password: str) -> None:
        self.work = work
        self.dirs = {name: work / name for name in ("data", "cache", "log", "spool", "run")}
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = make_pki(self.dirs["data"] / "certs")
        self.main = work / "icinga2.conf"
        defined = [f'const {name} = "{value}"' for name, value in constants.items()]
        self.main.write_text("\n".join([
            *defined,
            "include <itl>",
            f'include "{ROOT / "etc" / "icinga2" / "iaso-notifications.conf"}"',
            "object Endpoint NodeName { }",
            'object Zone "master" { endpoints = [ NodeName ] }',
            f'object ApiListener "api" {{ bind_host = "127.0.0.1"\n  bind_port = {self.port} }}',
            f'object ApiUser "driver" {{ password = "{DRIVER_PASSWORD}"\n'
            '  permissions = [ "*" ] }',
            f'object ApiUser "{SYNC_USER}" {{ password = "{sync_password}"\n'
            '  permissions = [ "objects/query/Host", "objects/query/Service",'
            ' "actions/acknowledge-problem" ] }',
            'object NotificationComponent "notification" { }',
            'object CheckerComponent "checker" { }',
            objects,
        ]) + "\n")
        self.process: Optional[subprocess.Popen] = None

    def arguments(self) -> List[str]:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        return ["-c", str(self.main), f"-DDataDir={self.dirs['data']}",
                f"-DCacheDir={self.dirs['cache']}", f"-DLogDir={self.dirs['log']}",
                f"-DSpoolDir={self.dirs['spool']}", f"-DInitRunDir={self.dirs['run']}",
                f"-DRunAsUser={user}", f"-DRunAsGroup={group}", f"-DNodeName={NODE}"]

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run([BINARY, "daemon", "-C", *self.arguments()], capture_output=True,
                              text=True, timeout=120)

    def start(self) -> None:
        log = open(self.work / "daemon.log", "w")
        self.process = subprocess.Popen([BINARY, "daemon", *self.arguments()], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
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
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
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
