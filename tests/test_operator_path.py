"""The operator's first hour, as docs/integration.md and docs/icinga2.md tell it: their `sh`
blocks run as written, as root, on this Debian machine (in a private mount namespace over its
own /etc, /opt and /var), from a clean copy of the checkout with no network but a wheelhouse.
The end-to-end tests (test_nagios_e2e.py, test_icinga2_e2e.py) then run the cores on what this
install left."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict

import pytest
from conftest import PASSWORD, USERNAME
from operator_host import CONFIG, Installed, documented_edits, require_namespaces

ROOT = Path(__file__).resolve().parent.parent

require_namespaces()

pytestmark = pytest.mark.integration


def test_ok_every_documented_block_ran(installed: Installed) -> None:
    ran = [heading for heading, _ in installed.printed]
    assert ran[:2] == ["1. Install the probes", "1. Install the probes"], ran
    assert "Install the objects" in ran   # docs/icinga2.md


def test_ok_probes_answer_as_the_monitoring_user(installed: Installed) -> None:
    printed = installed.printed_under("2. Configure them").splitlines()
    firsts = [line for line in printed if line.startswith("IASO ")]
    assert re.match(r"^IASO LIFE OK - prod: answered in \d+\.\d{3} s", firsts[0]), printed
    assert re.match(r"^IASO AUTH OK - prod: login as \S+ accepted", firsts[1]), printed


def test_ok_both_cores_accept_the_installed_objects(installed: Installed) -> None:
    nagios = installed.printed_under("3. Naemon / Nagios 4")
    assert "Total Warnings: 0" in nagios and "Total Errors:   0" in nagios, nagios[-2000:]
    icinga = installed.printed_under("Install the objects")
    assert "Finished validating the configuration file(s)." in icinga, icinga[-2000:]


def test_ok_sample_needs_only_the_base_urls_and_the_account(installed: Installed) -> None:
    shipped = (ROOT / "etc" / "iaso.yaml").read_text()
    assert installed.host.read(CONFIG) == documented_edits(shipped, installed.base_url,
                                                           USERNAME)
    assert installed.host.read(CONFIG) != shipped


EXPECTED_MODES = {
    "/etc/iaso-probes": ("root", "nagios", 0o750),
    "/etc/iaso-probes/iaso.yaml": ("root", "nagios", 0o640),
    "/etc/iaso-probes/secrets": ("nagios", "nagios", 0o700),
    "/etc/iaso-probes/secrets/lab.password": ("nagios", "nagios", 0o600),
    "/etc/iaso-probes/secrets/prod.password": ("nagios", "nagios", 0o600),
    "/etc/iaso-probes/core.env": ("root", "root", 0o600),
    "/var/lib/iaso-probes": ("nagios", "nagios", 0o750),
    "/var/log/iaso-probes": ("nagios", "nagios", 0o750),
}


@pytest.mark.parametrize("path", sorted(EXPECTED_MODES))
def test_ok_directory_and_file_modes(installed: Installed, path: str) -> None:
    assert installed.host.stat(path) == EXPECTED_MODES[path]


def test_ok_monitoring_user_writes_the_logs_and_the_state(installed: Installed) -> None:
    host = installed.host
    assert host.stat("/var/log/iaso-probes/results.jsonl")[0] == "nagios"
    assert host.stat("/var/log/iaso-probes/iaso-probes.log")[0] == "nagios"
    printed = installed.printed_under("monitoring user's state")
    assert printed.startswith("IASO BACKUP OK - lab: launched 1 backup"), printed
    state = host.run(["find", "/var/lib/iaso-probes/lab", "-type", "f", "-user", "nagios"])
    assert "/var/lib/iaso-probes/lab/backup-set-linux-vms.json" in state.stdout.split(), state


def test_ok_core_environment_file_holds_the_password_verbatim(installed: Installed) -> None:
    """What systemd would give the core: the password, quotes and backslash included; that a
    core hands it to its checks is proven by qualif going green in the end-to-end tests."""
    assert installed.core_environment == {"IASO_QUALIF_PASSWORD": PASSWORD}


def test_ok_one_probe_directory_everywhere(installed: Installed) -> None:
    """resource.cfg.sample, the Icinga 2 constants, their comment and the install agree."""
    resource = (ROOT / "etc" / "nagios" / "resource.cfg.sample").read_text()
    macros = dict(re.findall(r"^(\$USER\d+\$)=(.*)$", resource, re.M))
    icinga_doc = (ROOT / "docs" / "icinga2.md").read_text()
    constants = dict(re.findall(r'^const (\w+) = "(.*)"$', icinga_doc, re.M))
    comment = (ROOT / "etc" / "icinga2" / "iaso-commands.conf").read_text()
    commented = dict(re.findall(r'const (\w+) = "(.*?)"', comment))
    assert macros["$USER10$"] == constants["IasoProbesDir"] == commented["IasoProbesDir"] \
        == "/opt/iaso-probes/bin"
    assert macros["$USER11$"] == constants["IasoProbesConfig"] \
        == commented["IasoProbesConfig"] == CONFIG
    listed = installed.host.run(["ls", macros["$USER10$"]]).stdout.split()
    assert {"check_iaso_life", "check_iaso_backup", "iaso-servicedesk-notify"} <= set(listed)
    appended = installed.host.read("/etc/nagios4/resource.cfg")
    assert appended.endswith(resource)


def test_ok_kibana_links_name_fields_of_the_results_log(installed: Installed) -> None:
    record = json.loads(installed.host.read("/var/log/iaso-probes/results.jsonl").splitlines()[0])
    flat: Dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            flat[prefix[:-1]] = value

    walk("", record)
    queried = set()
    for path in sorted((ROOT / "etc" / "nagios").glob("*.cfg")):
        for query in re.findall(r"query:'([^']*)'", path.read_text()):
            queried |= set(re.findall(r"([\w.]+):", query))
    assert queried == {"service.environment", "iaso.probe"}
    assert queried <= set(flat), sorted(flat)
    assert flat["iaso.probe"] == "check_iaso_life" and flat["service.environment"] == "prod"


def test_ok_scheduling_example_is_the_shipped_backup_template() -> None:
    page = (ROOT / "docs" / "scheduling-jobs.md").read_text()
    (example,) = re.findall(r"```\n(define service \{.*?\})\n```", page, re.S)
    shown = dict(re.findall(r"^\s+(\w+)\s+([^;\n]*?)\s*(?:;.*)?$", example, re.M))
    templates = (ROOT / "etc" / "nagios" / "templates.cfg").read_text()
    block = re.search(r"define service \{\n\s+name\s+iaso-backup-service\n(.*?)\n\}", templates,
                      re.S).group(1)  # type: ignore[union-attr]
    template = dict(re.findall(r"^\s+(\w+)\s+(.*?)\s*$", block, re.M))
    prod = (ROOT / "etc" / "nagios" / "prod.cfg").read_text()
    assert shown["use"] == "iaso-backup-service"
    assert f"check_command                   {shown['check_command']}\n" in prod
    assert "-t" not in shown["check_command"].split(), "-t comes from _IASO_TIMEOUT"
    for key in ("check_interval", "retry_interval", "max_check_attempts", "_IASO_TIMEOUT"):
        assert shown[key] == template[key], key


def test_ok_readme_install_is_the_documented_one() -> None:
    """The README's short install says nothing the tested page does not."""
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"^## Install\n.*?^```\n(.*?)^```$", readme, re.M | re.S)
    page = (ROOT / "docs" / "integration.md").read_text()
    tested = {line.strip() for body in re.findall(r"^```sh\n(.*?)^```$", page, re.M | re.S)
              for line in body.splitlines()}
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands and all(command in tested for command in commands if command), commands
