"""Pictures of the IASO services in the real Nagios 4 web interface, for docs/integration.md.

One simulated IASO per environment; a private Nagios 4 core (tests/nagios_core.py) running the
shipped object files and the shipped etc/iaso.yaml, edited as docs/integration.md says (base URLs,
account, passwords; logs and state kept in the work directory); Debian's nagios4-cgi served by a
private apache2 on loopback; headless Chromium taking the pictures. First everything healthy,
then a fault in each environment: lab's commserve down, qualif's API answering HTTP 503, prod's
answers slow and a backup failed. Run by scripts/screenshots, which installs what it needs.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from nagios_core import NagiosCore  # noqa: E402

from libiaso.simulator.scenario import scenario_from  # noqa: E402
from libiaso.simulator.server import Simulator  # noqa: E402

USERNAME = "nagios"
PASSWORD = "demo-password"
ENVIRONMENTS = ("lab", "qualif", "prod")
APACHE_MODULES = ("mpm_prefork", "authz_core", "authz_host", "alias", "cgi", "mime", "dir",
                  "env")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def play(simulator: Simulator, scenario: Dict[str, Any]) -> None:
    simulator.set_scenario(scenario_from(
        dict(scenario, credentials={"username": USERNAME, "password": PASSWORD})))


def configuration(work: Path, urls: Dict[str, str]) -> Path:
    """The shipped sample with the documented edits, its logs and state in ``work``."""
    text = (ROOT / "etc" / "iaso.yaml").read_text()
    order = list(yaml.safe_load(text)["environments"])
    lines = text.splitlines(keepends=True)
    seen = 0
    for number, line in enumerate(lines):
        if re.match(r"^\s+base_url:", line):
            lines[number] = re.sub(r"\S+$", urls[order[seen]], line.rstrip("\n")) + "\n"
            seen += 1
        elif re.match(r"^\s+username:", line):
            lines[number] = re.sub(r"\S+$", USERNAME, line.rstrip("\n")) + "\n"
    text = "".join(lines)
    text = text.replace("/var/log/iaso-probes", str(work / "log"))
    text = text.replace("/var/lib/iaso-probes", str(work / "state"))
    for directory in ("log", "state"):
        (work / directory).mkdir()
    (work / "secrets").mkdir(mode=0o700)
    for environment in ("lab", "prod"):
        secret = work / "secrets" / f"{environment}.password"
        secret.write_text(PASSWORD + "\n")
        secret.chmod(0o600)
    path = work / "iaso.yaml"
    path.write_text(text)
    return path


class Apache:
    """apache2 on a loopback port, serving Debian's nagios4-cgi for one private core."""

    def __init__(self, work: Path, core: NagiosCore, port: int) -> None:
        self.work = work
        self.port = port
        work.mkdir()
        (work / "cgi.cfg").write_text("\n".join([
            f"main_config_file={core.main_config}",
            "physical_html_path=/usr/share/nagios4/htdocs", "url_html_path=/nagios4",
            "use_authentication=0", "use_pending_states=1", "escape_html_tags=1",
            "action_url_target=_blank", "notes_url_target=_blank", "refresh_rate=90",
            "result_limit=0"]) + "\n")
        modules = [f"LoadModule {name}_module /usr/lib/apache2/modules/mod_{name}.so"
                   for name in APACHE_MODULES]
        (work / "httpd.conf").write_text("\n".join([
            f"ServerRoot {work}", "ServerName localhost", f"Listen 127.0.0.1:{port}",
            f"PidFile {work / 'httpd.pid'}", f"ErrorLog {work / 'error.log'}",
            "User www-data", "Group www-data", *modules,
            "TypesConfig /etc/mime.types",
            "ScriptAlias /cgi-bin/nagios4 /usr/lib/cgi-bin/nagios4",
            "Alias /nagios4/stylesheets /etc/nagios4/stylesheets",
            "Alias /nagios4 /usr/share/nagios4/htdocs",
            f"SetEnv NAGIOS_CGI_CONFIG {work / 'cgi.cfg'}",
            "<Directory />", "  Require all denied", "</Directory>",
            "<DirectoryMatch (/usr/share/nagios4/htdocs|/usr/lib/cgi-bin/nagios4|"
            "/etc/nagios4/stylesheets)>",
            "  Require ip 127.0.0.0/8", "</DirectoryMatch>"]) + "\n")

    def start(self) -> None:
        subprocess.run(["apache2", "-f", str(self.work / "httpd.conf"), "-k", "start"],
                       check=True, timeout=30, env={"PATH": os.environ["PATH"],
                                                    "APACHE_RUN_DIR": str(self.work)})

    def stop(self) -> None:
        pid_file = self.work / "httpd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def shoot(url: str, picture: Path, profile: Path, height: int) -> None:
    """One page, as headless Chromium draws it, into a PNG."""
    done = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           f"--window-size=1360,{height}", f"--screenshot={picture}", url],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not picture.exists():
        raise RuntimeError(f"chromium: {done.stderr[-2000:]}")
    print(f"screenshots: {picture.relative_to(ROOT) if picture.is_relative_to(ROOT) else picture}")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images",
                        help="where the PNG files go (default: docs/images)")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="iaso-screenshots-"))
    work.chmod(0o755)   # the CGIs run as www-data and read the core's status files
    simulators = {env: Simulator(scenario_from({"credentials": {"username": USERNAME,
                                                                "password": PASSWORD}}))
                  for env in ENVIRONMENTS}
    for simulator in simulators.values():
        simulator.start("127.0.0.1", 0)
        play(simulator, {"job_speed": 60, "job_duration": 60})
    config = configuration(work, {env: sim.url for env, sim in simulators.items()})
    core = NagiosCore(work / "nagios", Path(sys.executable).parent, config,
                      settings=["interval_length=2"],
                      environment={"IASO_QUALIF_PASSWORD": PASSWORD})
    apache = Apache(work / "apache", core, free_port())
    base = f"http://127.0.0.1:{apache.port}/cgi-bin/nagios4"
    try:
        core.start()
        apache.start()
        for env in ENVIRONMENTS:
            core.wait_for_host(f"iaso-{env}", 0, timeout=120)
            for (host, service) in list(core.services()):
                if host == f"iaso-{env}":
                    core.wait_for(host, service, 0, timeout=120)
        shoot(f"{base}/status.cgi?host=all&limit=0", out / "nagios-services-ok.png",
              work / "chromium", 900)

        play(simulators["lab"], {"job_speed": 60, "job_duration": 60,
                                 "components": {"commserve": "unhealthy"}})
        play(simulators["qualif"], {"endpoints": {
            role: {"status": 503, "body": "html"}
            for role in ("life", "health", "login", "backup", "job_status", "restore")}})
        prod = yaml.safe_load(config.read_text())["environments"]["prod"]
        failing = prod["backup_sets"]["linux-vms"][-1]["hostname"]
        play(simulators["prod"], {"job_speed": 60, "job_duration": 60,
                                  "endpoints": {"life": {"latency": 1.2}},
                                  "hosts": {failing: {"outcome": "failed", "at_percent": 40,
                                                      "reason": "error writing to the "
                                                                "MediaAgent library"}}})
        shutil.rmtree(work / "state" / "prod", ignore_errors=True)   # launch the backup now
        core.wait_for("iaso-lab", "IASO health", 2, timeout=120)
        core.wait_for_host("iaso-qualif", 1, timeout=120)
        for service in ("IASO life", "IASO health", "IASO response time", "IASO auth"):
            core.wait_for("iaso-qualif", service, 2, timeout=120)
        core.wait_for("iaso-prod", "IASO response time", 1, timeout=120)
        core.wait_for("iaso-prod", "IASO backup linux-vms", 2, timeout=180)
        shoot(f"{base}/status.cgi?host=all&limit=0", out / "nagios-services-faults.png",
              work / "chromium", 960)
        shoot(f"{base}/extinfo.cgi?type=2&host=iaso-lab&service=IASO+health",
              out / "nagios-health-detail.png", work / "chromium", 664)
    except Exception:
        log = work / "log" / "iaso-probes.log"
        if log.exists():
            print("".join(log.read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
        raise
    finally:
        apache.stop()
        core.stop()
        for simulator in simulators.values():
            simulator.stop()
        time.sleep(0.5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
