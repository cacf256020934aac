"""Review: secrets that still reach an output, and a way back into the core that trusts a ticket.

Each case was reproduced against the simulator or a loopback server; each fails today.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PASSWORD, ROOT, USERNAME, write_config

from iaso_probes.check_iaso_auth import probe as auth
from libiaso.servicedesk.acknowledgement import NagiosCommandFile, synchronise
from libiaso.servicedesk.rt_rest import CF_HOST, CF_KEY, CF_ORIGIN, CF_SERVICE, Ticket
from libiaso.servicedesk.settings import NagiosBack
from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator


def simulator_with(password: str, endpoints: dict) -> Simulator:
    sim = Simulator(scenario_from({"credentials": {"username": USERNAME, "password": password},
                                   "endpoints": endpoints}))
    sim.start("127.0.0.1", 0)
    return sim


# --- masking after the text was changed -------------------------------------------------------

@pytest.mark.parametrize("password", ["Pass\u00a0Word-42", "two  spaces-42"],
                         ids=["no-break-space", "double-space"])
def test_crit_login_refusal_echoing_a_password_with_spaces_never_shows_it(
        tmp_path: Path, password: str) -> None:
    """API error texts are whitespace-normalised before they are masked
    (answers.masked_and_cut): a password holding a no-break space or two spaces no longer
    matches and is printed, and kept in the results log."""
    sim = simulator_with(password, {"login": {"status": 401, "body": {"json": {
        "message": f"Login failed with password {password} for {USERNAME}"}}}})
    try:
        config = write_config(tmp_path, sim.url, password=password)
        document = yaml.safe_load(config.read_text())
        document["logging"] = {"results": str(tmp_path / "results.log")}
        config.write_text(yaml.safe_dump(document))
        outcome = auth.run(["-C", str(config)])
    finally:
        sim.stop()
    assert outcome.code == 2, outcome.output
    squeezed = " ".join(password.split())
    record = (tmp_path / "results.log").read_text(encoding="utf-8")
    for text in (outcome.output, json.loads(record)["iaso"]["summary"]):
        assert password not in text and squeezed not in text, text


# --- the profile doctor's excerpts ------------------------------------------------------------

def dotnet_json(text: str) -> str:
    """A JSON string body as System.Text.Json writes it by default (non-ASCII and HTML-sensitive
    characters as upper-case \\uXXXX escapes)."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif ord(char) > 126 or char in "\"'<>&+":
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def doctor(config: Path) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), IASO_PROBES_CACHE_DIR="off")
    return subprocess.run([sys.executable, "-m", "libiaso.doctor.command", "-C", str(config),
                           "-t", "10"], capture_output=True, text=True, timeout=60,
                          env=environment)


def test_crit_doctor_excerpt_of_a_refusal_echoing_the_password_in_dotnet_json_masks_it(
        tmp_path: Path) -> None:
    """The doctor prints a raw excerpt of each answer; the redactor knows Python's JSON escapes
    only, so the password as a .NET (or Go, Java) server escapes it is pasted into the ticket."""
    body = '{"message":"Login failed for ' + dotnet_json(PASSWORD) + '"}'
    sim = simulator_with(PASSWORD, {"login": {"status": 401, "body": {"raw": body},
                                              "content_type": "application/json"}})
    try:
        done = doctor(write_config(tmp_path, sim.url))
    finally:
        sim.stop()
    assert "login as nagios rejected" in done.stdout, done.stdout + done.stderr
    assert dotnet_json(PASSWORD) not in done.stdout
    assert "\\u00EFm-P\\u00E4ss" not in done.stdout, done.stdout


def test_crit_doctor_never_shows_a_token_it_calls_unusable(tmp_path: Path) -> None:
    """The token is registered with the redactor only once it is judged usable: a token with a
    trailing space (an API bug) is refused, and the excerpt shows it in clear."""
    token = "tok-Secret-Value-1234567890"
    sim = simulator_with(PASSWORD, {"login": {"body": {"json": {"token": token + " ",
                                                                  "expiresIn": 3600}}}})
    try:
        done = doctor(write_config(tmp_path, sim.url))
    finally:
        sim.stop()
    assert "unusable token" in done.stdout, done.stdout + done.stderr
    assert token not in done.stdout, done.stdout


# --- the way back into Nagios -----------------------------------------------------------------

class OneTicketDesk:
    """The desk side of ``synchronise``: one taken ticket whose fields someone edited."""

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.marked: list = []

    def to_acknowledge(self, origin: str) -> list:
        return [(self.ticket, "taken")]

    def mark_acknowledged(self, ticket: Ticket, text: str) -> None:
        self.marked.append(text)


def test_ok_sync_never_writes_a_command_whose_fields_come_apart(tmp_path: Path) -> None:
    """Host and service come from the ticket's custom fields, which anyone who may edit the
    ticket in RT can change. Only line breaks are removed (acknowledgement.clean_field): a ';'
    shifts the external command's fields and acknowledges another object's problem (without a
    status file, which is optional, nothing checks the object first)."""
    ticket = Ticket({"id": 7, "Status": "open", "Owner": {"id": "alice"}, "CustomFields": [
        {"name": CF_KEY, "values": ["nagios:12"]},
        {"name": CF_ORIGIN, "values": ["nagios"]},
        {"name": CF_HOST, "values": ["db-prod-01;MySQL replication;2;1;0;x;hidden"]},
        {"name": CF_SERVICE, "values": ["IASO backup"]}]})
    command_file = tmp_path / "nagios.cmd"
    command_file.write_text("")
    core = NagiosCommandFile(NagiosBack(command_file=str(command_file), status_file=None),
                             clock=lambda: 1700000000.0)
    synchronise(OneTicketDesk(ticket), core, "nagios", "nagios", "iaso-servicedesk")  # type: ignore[arg-type]
    for line in command_file.read_text().splitlines():
        fields = line.split("] ", 1)[1].split(";")
        assert fields[1] != "db-prod-01", line
