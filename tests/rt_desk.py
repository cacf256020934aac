"""A private Request Tracker 5 (Debian's request-tracker5) for the service-desk tests.

Its own site configuration and SQLite file (RT_SITE_CONFIG and RT_SITE_CONFIG_DIR point RT at
them, so the system's RT, if any, is neither read nor touched), seeded with the shipped
etc/request-tracker/iaso-initialdata and site file, the shipped mail-gateway action on its Perl
path, a REST token for iaso-core, served by RT's own rt-server on 127.0.0.1 and stopped by PID.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import requests
from process_group import stop_group

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "etc" / "request-tracker"
SHARE = Path("/usr/share/request-tracker5")
RT_SERVER = SHARE / "libexec" / "rt-server"
SETUP = shutil.which("rt-setup-database-5") or "/usr/sbin/rt-setup-database-5"
MAILGATE = shutil.which("rt-mailgate-5") or "/usr/bin/rt-mailgate-5"
ROOT_PASSWORD = "password"       # what RT's own initialdata gives root: a test-only instance
CORE_ADDRESS = "iaso-core@monitoring.invalid"

TOKEN_SCRIPT = r"""
use strict; use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT; RT::LoadConfig(); RT::Init();
my $user = RT::User->new(RT->SystemUser);
$user->Load($ARGV[0]) or die "no user $ARGV[0]\n";
my $token = RT::AuthToken->new(RT->SystemUser);
my ($ok, $msg, $string) = $token->Create(Owner => $user->Id, Description => 'tests');
die "$msg\n" unless $ok;
print "$string\n";
"""

ENGINEERS = r"""
@Users = ( { Name => 'alice', EmailAddress => 'alice@desk.invalid', RealName => 'Alice',
             Privileged => 1, Password => 'alice-password' } );
@ACL = ( { UserId => 'alice', Queue => 'IASO',
           Right => [ qw(SeeQueue ShowTicket OwnTicket ModifyTicket CommentOnTicket
                         ShowTicketComments SeeCustomField) ] } );
1;
"""


def require_rt() -> None:
    if RT_SERVER.exists() and os.path.exists(SETUP) and os.path.exists(MAILGATE):
        return
    message = "Request Tracker 5 is missing: scripts/install-servicedesk installs it"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RequestTracker:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.site = work / "RT_SiteConfig.pm"
        self.site_dir = work / "RT_SiteConfig.d"
        self.database = work / "rtdb"
        self.token_file = work / "rt.token"
        self.process: Optional[subprocess.Popen] = None
        self.log = work / "rt-server.log"

    @property
    def environment(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(RT_SITE_CONFIG=str(self.site), RT_SITE_CONFIG_DIR=str(self.site_dir),
                   PERL5LIB=str(SHIPPED / "lib"))
        return env

    def setup(self) -> None:
        """A fresh database with RT's own data, then the shipped IASO data and a token."""
        (self.work / "mason").mkdir(parents=True, exist_ok=True)
        self.site_dir.mkdir(parents=True, exist_ok=True)
        for shipped in (SHIPPED / "RT_SiteConfig.d").glob("*.pm"):
            shutil.copy(shipped, self.site_dir / shipped.name)
        self.site.write_text("\n".join([
            "Set($rtname, 'iaso-desk');",
            "Set($Organization, 'desk.invalid');",
            "Set($CorrespondAddress, 'rt@desk.invalid');",
            "Set($CommentAddress, 'rt-comment@desk.invalid');",
            "Set($DatabaseType, 'SQLite');",
            f"Set($DatabaseName, '{self.database}');",
            "Set($WebPath, '');",
            "Set($WebDomain, '127.0.0.1');",
            f"Set($WebPort, {self.port});",
            f"Set($WebBaseURL, '{self.url}');",
            "Set($LogToSyslog, undef);",
            "Set($LogToSTDERR, 'error');",
            "Set($MailCommand, 'testfile');",
            "Set($HTMLFormatter, 'core');",
            f"Set($MasonDataDir, '{self.work / 'mason'}');",
            "Set($Timezone, 'UTC');",
            "1;",
        ]) + "\n")
        self._setup_database("init")
        self._setup_database("insert", SHIPPED / "iaso-initialdata")
        engineers = self.work / "engineers"
        engineers.write_text(ENGINEERS)
        self._setup_database("insert", engineers)
        script = self.work / "token.pl"
        script.write_text(TOKEN_SCRIPT)
        done = subprocess.run(["perl", str(script), "iaso-core"], env=self.environment,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        self.token_file.write_text(done.stdout.strip() + "\n")
        self.token_file.chmod(0o600)

    def _setup_database(self, action: str, datafile: Optional[Path] = None) -> None:
        command = [SETUP, "--action", action, "--skip-create"]
        if datafile is not None:
            command += ["--datafile", str(datafile)]
        done = subprocess.run(command, env=self.environment, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0 and "[error]" not in done.stdout + done.stderr, \
            (done.stdout + done.stderr)[-3000:]

    def start(self) -> None:
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [str(RT_SERVER), "--host", "127.0.0.1", "--port", str(self.port),
             "--server", "Starlet", "--max-workers", "2"],
            env=self.environment, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("rt-server exited: " + self.log.read_text()[-2000:])
            try:
                if requests.get(self.url + "/REST/2.0/queues/all", timeout=2,
                                auth=("root", ROOT_PASSWORD)).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("rt-server did not answer: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        """Stop the server and its workers (its own process group), by PID."""
        if self.process is None:
            return
        stop_group(self.process, 20)
        self.process = None

    # --- reading and acting as people do --------------------------------------------------

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(method, self.url + "/REST/2.0/" + path,
                                  auth=("root", ROOT_PASSWORD), timeout=30, **kwargs)
        assert answer.status_code < 300, (answer.status_code, answer.text[:500])
        return answer.json()

    def tickets(self, query: str = "Queue = 'IASO'") -> List[Dict[str, Any]]:
        """Every ticket of the query (any status but deleted), oldest first, with its fields."""
        found: List[Dict[str, Any]] = []
        page = 1
        while True:
            data = self.rest("GET", "tickets", params={
                "query": query, "fields": "Subject,Status,Owner,CustomFields",
                "orderby": "id", "order": "ASC", "per_page": "100", "page": str(page)})
            for item in data["items"]:
                fields = {f["name"]: f["values"] for f in item.get("CustomFields", [])}
                found.append({"id": int(item["id"]), "subject": item["Subject"],
                              "status": item["Status"], "owner": item["Owner"]["id"],
                              "key": (fields.get("IASO problem key") or [""])[0],
                              "host": (fields.get("IASO host") or [""])[0],
                              "service": (fields.get("IASO service") or [""])[0],
                              "notifications": fields.get("IASO notifications") or [],
                              "recovered": (fields.get("IASO recovered") or [""])[0],
                              "acknowledged": (fields.get("IASO acknowledged") or [""])[0]})
            if len(data["items"]) < 100:
                return found
            page += 1

    def texts(self, ticket: int) -> List[str]:
        """The text of every create, comment and correspond transaction, in order."""
        texts = []
        history = self.rest("GET", f"ticket/{ticket}/history", params={"per_page": "100"})
        for item in history["items"]:
            transaction = self.rest("GET", f"transaction/{item['id']}")
            if transaction["Type"] not in ("Create", "Comment", "Correspond"):
                continue
            for link in transaction.get("_hyperlinks", []):
                if link.get("ref") != "attachment":
                    continue
                attachment = self.rest("GET", link["_url"].split("/REST/2.0/", 1)[1])
                if attachment.get("ContentType", "").startswith("text/plain"):
                    import base64

                    texts.append(base64.b64decode(attachment["Content"]).decode("utf-8"))
        return texts

    def take(self, ticket: int, owner: str = "alice") -> None:
        self.rest("PUT", f"ticket/{ticket}", json={"Owner": owner})

    def resolve_by_hand(self, ticket: int) -> None:
        self.rest("PUT", f"ticket/{ticket}", json={"Status": "resolved"})

    def mailgate(self, message: bytes, action: str = "alert",
                 queue: str = "IASO") -> subprocess.CompletedProcess:
        return subprocess.run([MAILGATE, "--queue", queue, "--action", action, "--url",
                               self.url + "/"], input=message, capture_output=True,
                              timeout=60)


def header_of(mail: bytes, name: str) -> str:
    return str(message_from_bytes(mail, policy=policy.default).get(name, ""))
