"""A monitoring host installed by the documentation, literally, inside this machine.

A private mount namespace whose /etc, /opt, /var/lib, /var/log and /var/cache are copy-on-write
layers (overlayfs) over the machine's own: the `sh` blocks of docs/integration.md and
docs/icinga2.md run there as root, as written (`install -d /etc/iaso-probes`, `python3 -m venv
/opt/iaso-probes`, `runuser -u nagios ...`), with Debian's own nagios4 and icinga2
configuration underneath, and the machine itself is left untouched. The cores of the end-to-end
tests are started inside it, so they see the files where the documentation put them.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
OVERLAID = ("/etc", "/opt", "/var/lib", "/var/log", "/var/cache")
FRESH = ("/etc/iaso-probes", "/opt/iaso-probes", "/var/lib/iaso-probes", "/var/log/iaso-probes",
         "/etc/nagios4/conf.d/iaso", "/etc/systemd/system/nagios4.service.d",
         "/etc/systemd/system/icinga2.service.d")
# A root login's search path: the documentation's python3 is the system's, not a developer's.
LOGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def require_namespaces() -> None:
    """Skip without root or mount namespaces, except in CI, where that is a failure."""
    problem = None
    if os.geteuid() != 0:
        problem = "needs root (a private mount namespace and overlay mounts)"
    elif not (shutil.which("unshare") and shutil.which("nsenter")):
        problem = "needs unshare and nsenter (util-linux)"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the operator's path {problem}", pytrace=False)
    pytest.skip(f"the operator's path {problem}", allow_module_level=True)


def shell_blocks(page: Path) -> List[Tuple[str, str]]:
    """The ```sh blocks of a page, in order, each with the heading it stands under."""
    blocks = []
    heading = ""
    for match in re.finditer(r"^(#+ [^\n]*)$|^```sh\n(.*?)^```$", page.read_text(),
                             re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
        else:
            blocks.append((heading, match.group(2)))
    return blocks


class OperatorHost:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.holder: Optional[subprocess.Popen] = None
        self.layers: Dict[str, Path] = {}

    def start(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                        "sleep", "infinity"])
        for directory in OVERLAID:
            layer = self.work / "layers" / directory.strip("/").replace("/", "-")
            (layer / "upper").mkdir(parents=True)
            (layer / "work").mkdir()
            self.layers[directory] = layer / "upper"
            done = self.run(["mount", "-t", "overlay", "overlay", "-o",
                             f"lowerdir={directory},upperdir={layer / 'upper'},"
                             f"workdir={layer / 'work'}", directory])
            if done.returncode != 0:
                self.stop()
                message = f"overlay over {directory}: {done.stderr.strip()}"
                if os.environ.get("CI"):
                    pytest.fail(message, pytrace=False)
                pytest.skip(message)
        # A fresh machine: nothing of an earlier install (or of a test run as root with the
        # default state directory) shows through from below.
        self.run(["rm", "-rf", *FRESH])

    def stop(self) -> None:
        if self.holder is None:
            return
        self.holder.send_signal(signal.SIGKILL)
        self.holder.wait(timeout=10)
        self.holder = None

    def enter(self, cwd: Optional[Path] = None) -> List[str]:
        """The prefix that runs a command inside (the core's start, a probe run...). Entering
        a mount namespace moves to its root: the working directory is set again after."""
        assert self.holder is not None
        return ["nsenter", f"--target={self.holder.pid}", "--mount",
                f"--wd={cwd or self.work}", "--"]

    def run(self, command: Sequence[str], *, stdin: Optional[str] = None,
            cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([*self.enter(cwd), *command], input=stdin, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def shell(self, script: str, *, stdin: str = "", cwd: Optional[Path] = None,
              env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
        """A documentation block, run by bash as root's login shell would, stopping at an error."""
        environment = {"PATH": LOGIN_PATH, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root",
                       "LOGNAME": "root", "SHELL": "/bin/bash"}
        environment.update(env or {})
        return self.run(["bash", "-e", "-o", "pipefail", "-c", script], stdin=stdin, cwd=cwd,
                        env=environment)

    def read(self, path: str) -> str:
        done = self.run(["cat", path])
        assert done.returncode == 0, done.stderr
        return done.stdout

    def write(self, path: str, text: str) -> None:
        done = self.run(["sh", "-c", 'cat > "$1"', "write", path], stdin=text)
        assert done.returncode == 0, done.stderr

    def stat(self, path: str) -> Tuple[str, str, int]:
        """Owner, group and permission bits of a path, as seen inside."""
        done = self.run(["stat", "-c", "%U %G %a", path])
        assert done.returncode == 0, done.stderr
        owner, group, mode = done.stdout.split()
        return owner, group, int(mode, 8)

    def outside(self, path: str) -> Path:
        """Where a file written inside lies on this machine (its copy-on-write layer)."""
        for directory, upper in self.layers.items():
            if path.startswith(directory + "/"):
                return upper / path[len(directory) + 1:]
        return Path(path)

    def scrub(self, paths: Sequence[str]) -> None:
        """Remove secrets written inside (the session's leak scan reads every file it left)."""
        for path in paths:
            found = self.outside(path)
            if found.is_dir():
                shutil.rmtree(found)
            elif found.exists():
                found.unlink()


def systemd_environment_file(text: str) -> Iterator[Tuple[str, str]]:
    """The NAME='value' lines of a systemd EnvironmentFile written by the documentation; in
    single quotes a value is taken verbatim (systemd.exec(5), EnvironmentFile=)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)='([^']*)'", line.strip())
        if match:
            yield match.group(1), match.group(2)


class Installed:
    """The documentation's install, done: where it ran and what each block printed."""

    def __init__(self, host: OperatorHost, checkout: Path, base_url: str) -> None:
        self.host = host
        self.checkout = checkout
        self.base_url = base_url
        self.printed: List[Tuple[str, subprocess.CompletedProcess]] = []
        self.core_environment: Dict[str, str] = {}

    def printed_under(self, heading: str) -> str:
        return "".join(done.stdout for under, done in self.printed if under.startswith(heading))


PAGES = (ROOT / "docs" / "integration.md", ROOT / "docs" / "icinga2.md")
CONFIG = "/etc/iaso-probes/iaso.yaml"
SECRETS = ("/etc/iaso-probes/secrets", "/etc/iaso-probes/core.env")


def documented_edits(text: str, url: str, username: str) -> str:
    """The edits docs/integration.md asks of the sample, and nothing else: every environment's
    base_url and monitoring account."""
    text = re.sub(r"^(\s+base_url:\s*)\S+$", lambda m: m.group(1) + url, text, flags=re.M)
    return re.sub(r"^(\s+username:\s*)\S+$", lambda m: m.group(1) + username, text,
                  flags=re.M)


def install_by_the_docs(host: OperatorHost, checkout: Path, base_url: str, username: str,
                        password: str, find_links: Path) -> Installed:
    installed = Installed(host, checkout, base_url)
    pip_offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links),
                   "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                   "PIP_CONFIG_FILE": os.devnull}
    edited = False
    for page in PAGES:
        for heading, block in shell_blocks(page):
            done = host.shell(block, stdin=f"{password}\n" * 8, cwd=checkout, env=pip_offline)
            installed.printed.append((heading, done))
            assert done.returncode == 0, (f"{page.name}, under {heading!r}:\n{block}\n"
                                          f"stdout:\n{done.stdout[-3000:]}\n"
                                          f"stderr:\n{done.stderr[-3000:]}")
            if not edited and host.run(["test", "-f", CONFIG]).returncode == 0:
                host.write(CONFIG, documented_edits(host.read(CONFIG), base_url, username))
                edited = True
    installed.core_environment = dict(systemd_environment_file(
        host.read("/etc/iaso-probes/core.env")))
    # A stateful probe as the monitoring user, before any core (the tests' run as root) has
    # made the environment's state directory: the documented one must be writable by it.
    installed.printed.append(("monitoring user's state", host.run(
        ["runuser", "-u", "nagios", "--", "/opt/iaso-probes/bin/check_iaso_backup", "-E", "lab",
         "-S", "linux-vms"])))
    return installed


@pytest.fixture(scope="session")
def installed(simulator: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The install of the documentation, once a session, against the session's simulator."""
    from conftest import PASSWORD, USERNAME
    from distribution import THIS_PYTHON, clean_copy, wheelhouse

    require_namespaces()
    work = tmp_path_factory.mktemp("operator")
    host = OperatorHost(work)
    host.start()
    checkout = clean_copy(work / "checkout")
    try:
        yield install_by_the_docs(host, checkout, simulator.url,  # type: ignore[attr-defined]
                                  USERNAME, PASSWORD, wheelhouse(THIS_PYTHON))
    finally:
        host.scrub(SECRETS)
        shutil.rmtree(checkout, ignore_errors=True)
        host.stop()
