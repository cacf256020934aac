"""The second hostile campaign: every case of tests/hostile_cases.py against every probe it
concerns, as real subprocesses, as a core runs them.

Each run is held to the promises of docs/state-policy.md and docs/reliability.md: the exit code
the policy expects, one first line 'IASO <PROBE> <STATE> - ...' whose state is the exit code,
no traceback, no '|' in the status text, well-formed perfdata, the whole output at most 4,000
bytes, no line break or control or bidi-control character other than the newlines between
lines (so nothing is injected as a line), done within -t + 0.5 s, stderr empty, and no secret
(the password in every form a transport or a log may give it, the tokens) in stdout, stderr or,
once the case's runs are done, any file they left. A case may add: the first line names the
file at fault, the number of jobs really launched, nothing reaching the other host (the canary
on 127.0.0.2).

Multi-run cases move time forward between runs: the case's server clock, and every epoch time
in the state files by the same amount, as if the runs were that far apart.

The matrix of states seen and the figures are printed at the end (docs/reliability.md).
HOSTILE_CAMPAIGN_PARALLEL sets how many probes run at once (default 3 on this suite's 2 cores);
HOSTILE_CAMPAIGN_TRACE names a file that receives every run's first line, to read the campaign.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote, quote_plus

import pytest
from conftest import ROOT
from hostile_cases import (
    CASES,
    PROBES,
    STATEFUL_ARGS,
    TIMEOUT,
    UNKNOWN,
    WAIT_ARGS,
    Case,
    Expected,
    Step,
    Workspace,
    base_config,
    warm_up,
)
from hostile_wire import PASSWORD, USERNAME, WireServer, make_pki

from libiaso.simulator.scenario import scenario_from

pytestmark = pytest.mark.integration

STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
TITLES = {"life": "IASO LIFE", "health": "IASO HEALTH", "response_time": "IASO RESPONSE TIME",
          "auth": "IASO AUTH", "backup": "IASO BACKUP", "restore": "IASO RESTORE"}
GRACE = 0.5
HANG_GUARD = TIMEOUT + 5.0
PARALLEL = int(os.environ.get("HOSTILE_CAMPAIGN_PARALLEL", "3"))
TRACE = os.environ.get("HOSTILE_CAMPAIGN_TRACE")
OUTPUT_LIMIT = 4000
# Characters that end a line for Unicode (str.splitlines) besides '\n', and the bidi controls.
LINE_BREAKERS = set("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Monitoring Plugins guidelines: 'label'=value[UOM];[warn];[crit];[min];[max]
PERFDATA = re.compile(r"^(?:'[^']+'|[^'= ]+)=(?:U|-?[0-9]+(?:\.[0-9]+)?)"
                      r"(?:s|ms|us|%|B|KB|MB|TB|c)?"
                      r"(?:;[-0-9.:~@]*(?:;[-0-9.:~@]*(?:;[-0-9.]*(?:;[-0-9.]*)?)?)?)?$")
FIRST_LINE = re.compile(r"^(IASO [A-Z ]+?) (OK|WARNING|CRITICAL|UNKNOWN)(?: - (.*))?$")


@dataclass
class Run:
    probe: str
    code: int
    stdout: str
    stderr: str
    elapsed: float
    hung: bool


SEEN: Dict[str, Dict[str, List[Run]]] = {}
BROKEN: Dict[str, List[str]] = {}
CAMPAIGN = {"started": 0.0, "finished": 0.0}


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[WireServer, Path]]:
    pki = make_pki(tmp_path_factory.mktemp("campaign-pki"))
    warm_up()
    server = WireServer(pki, {c.name: c.handle for c in CASES},
                        {c.name: c.listener for c in CASES})
    CAMPAIGN["started"] = time.monotonic()
    yield server, pki
    server.stop()


# --- running a probe ----------------------------------------------------------------------------


def unshare() -> List[str]:
    """A private mount namespace: as root, or as a user mapped to root (Debian 12 allows
    unprivileged user namespaces by default)."""
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]


def require_namespace() -> None:
    done = subprocess.run([*unshare(), "sh", "-c", "mount -t tmpfs probe-check /mnt"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"this case mounts a tmpfs in a private mount namespace, which this machine "
                    f"refuses ({done.stderr.strip()}): run as root or allow unprivileged user "
                    "namespaces (sysctl kernel.unprivileged_userns_clone=1)", pytrace=False)


def command_for(ws: Workspace, probe: str) -> List[str]:
    argv = [sys.executable, "-m", f"iaso_probes.check_iaso_{probe}", "-C", str(ws.config_path),
            "-t", f"{TIMEOUT:g}", *ws.args[probe]]
    if ws.shell or ws.namespace:
        argv = ["sh", "-c", "\n".join([*ws.shell, 'exec "$@"']), "sh", *argv]
    if ws.namespace:
        argv = unshare() + argv
    if ws.prlimit:
        argv = ["prlimit", *ws.prlimit, "--", *argv]
    return argv


def environment_for(ws: Workspace) -> Dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.update(ws.env)
    for name in ws.unset:
        env.pop(name, None)
    return env


SIGNAL_LATENESS = 0.15   # beyond it, a timed signal did not test the moment its case names
SIGNALS_LATE: List[str] = []


def run_probe(ws: Workspace, probe: str) -> Run:
    """One run; a timed signal that the loaded machine sent too late (or after the probe ended),
    or so early that the interpreter had not yet run the probe's first line (no handler of its
    own yet: docs/reliability.md leaves that moment to the signal, as for any program), is
    tried again, three runs in all, the last one judged whatever it met: a case about start-up
    is not judged on a run it did not disturb as it names unless the machine is that slow
    three times over (the summary counts the runs made again)."""
    for attempt in range(3):
        if attempt:
            SIGNALS_LATE.append(probe)
        run, sent_at = _run_once(ws, probe)
        if probe not in ws.signal_at or \
                0 <= sent_at - ws.signal_at[probe][1] <= SIGNAL_LATENESS:
            break
    return run


def _run_once(ws: Workspace, probe: str) -> Tuple[Run, float]:
    started = time.monotonic()
    process = subprocess.Popen(command_for(ws, probe), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment_for(ws), cwd=str(ws.cwd or ws.root),
                               start_new_session=True)
    timer = None
    sent: List[float] = []
    if probe in ws.signal_at:
        signum, delay = ws.signal_at[probe]
        timer = threading.Timer(delay, _signal, (process, signum, started, sent))
        timer.start()
    hung = False
    try:
        out, err = process.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    elapsed = time.monotonic() - started
    if timer is not None:
        timer.cancel()
        timer.join()
    return (Run(probe, process.returncode, out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"), elapsed, hung),
            sent[0] if sent else float("inf"))


def _signal(process: subprocess.Popen, signum: int, started: float, sent: List[float]) -> None:
    """Send ``signum`` unless the process is gone; ``sent`` gets the offset it was sent at, or
    -1 when the process did not catch that signal yet (the interpreter still starting)."""
    if process.poll() is not None:
        return
    sent.append(time.monotonic() - started if _catches(process.pid, signum) else -1.0)
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``signum`` (/proc's SigCgt mask)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError):
        pass
    return True


def run_all(ws: Workspace, probes: Tuple[str, ...]) -> List[Run]:
    """Every probe (``ws.concurrency`` copies each), ``PARALLEL`` at a time or all at once."""
    jobs = [probe for probe in probes for _ in range(ws.concurrency)]
    workers = len(jobs) if ws.concurrency > 1 else PARALLEL
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda probe: run_probe(ws, probe), jobs))


# --- the promises ---------------------------------------------------------------------------


def secret_forms(server: WireServer, case: str) -> List[str]:
    """The password in every form a transport, a log or an echo may give it; the tokens."""
    raw = PASSWORD.encode("utf-8")
    forms = {PASSWORD, PASSWORD[:16], json.dumps(PASSWORD)[1:-1],
             json.dumps(PASSWORD, ensure_ascii=False)[1:-1],
             base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
             quote(PASSWORD, safe=""), quote_plus(PASSWORD)}
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form)
              for form in forms if "%" in form}   # RFC 3986 2.1: the same octets
    for token in server.issued(case):
        forms.add(token)
        signature = token.rsplit(".", 1)[-1]
        if len(signature) >= 16:
            forms.add(signature)
    return sorted(forms)


def files_text(root: Path) -> Iterator[Tuple[Path, str]]:
    for path in root.rglob("*"):
        if path.name == "password" or path.is_symlink() or not path.is_file():
            continue
        try:
            with open(path, "rb") as handle:
                yield path, handle.read(5_000_000).decode("utf-8", "replace")
        except OSError:
            continue


def broken_promises(run: Run, expected: Optional[Expected], ws: Workspace) -> List[str]:
    """The promises this run broke, in words."""
    checks: Dict[str, bool] = {}
    allowed = (set(range(4)) if expected is None else
               set(expected) if isinstance(expected, frozenset) else {expected})
    wanted = "/".join(STATE_NAMES[s] for s in sorted(allowed))
    checks[f"exit {run.code}, expected {wanted}"] = run.code in allowed
    if ws.capture_stdout:
        first = run.stdout.split("\n", 1)[0]
        status_text = first.split(" | ", 1)[0]
        shape = FIRST_LINE.match(status_text)
        state_word = shape.group(2) if shape else None
        checks["first line 'IASO <PROBE> <STATE> - ...'"] = shape is not None and \
            shape.group(1) == TITLES[run.probe]
        checks["the first line's state is the exit code"] = \
            0 <= run.code <= 3 and state_word == STATE_NAMES[run.code]
        checks["no '|' in the status text"] = "|" not in status_text
        perfdata = first.split(" | ", 1)[1].split() if " | " in first else []
        bad = [item for item in perfdata if not PERFDATA.match(item)]
        checks[f"perfdata well-formed {bad[:2]}"] = not bad
        checks[f"whole output at most {OUTPUT_LIMIT} bytes ({len(run.stdout.encode())})"] = \
            len(run.stdout.encode()) <= OUTPUT_LIMIT
        checks["no line break inside a line (nothing injected)"] = \
            not any(c in LINE_BREAKERS for c in run.stdout) and not any(
                line.startswith("IASO ") for line in run.stdout.split("\n")[1:])
        checks["no control or bidi-control character"] = not any(
            (unicodedata.category(c) == "Cc" and c != "\n") or c in BIDI_CONTROLS
            for c in run.stdout)
        if ws.names and expected == UNKNOWN:
            checks[f"first line names {ws.names}"] = ws.names in first
    checks["no traceback"] = "Traceback" not in run.stdout + run.stderr
    checks[f"within -t + {GRACE} s ({run.elapsed:.2f} s)"] = \
        not run.hung and run.elapsed <= TIMEOUT + GRACE
    checks["stderr empty"] = run.stderr == ""
    leaks = sorted({where for where, text in (("stdout", run.stdout), ("stderr", run.stderr))
                    for form in secret_forms(ws.server, ws.case) if form in text})
    checks[f"no secret in stdout or stderr {leaks}"] = not leaks
    return [name for name, ok in checks.items() if not ok]


def leaked_into_files(ws: Workspace) -> List[str]:
    """The files the case's runs left (logs, state files...) holding a secret."""
    forms = secret_forms(ws.server, ws.case)
    return sorted(str(path.relative_to(ws.root)) for path, text in files_text(ws.root)
                  if any(form in text for form in forms))


# --- the campaign -----------------------------------------------------------------------------


def age_state(directory: Path, seconds: float) -> None:
    """Move every epoch time in the state files ``seconds`` into the past."""
    def older(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: older(v) for k, v in value.items()}
        if isinstance(value, list):
            return [older(v) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and 1e9 <= value <= 4e9:
            return value - seconds
        return value

    for path in directory.rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        temporary = path.with_suffix(".aging")
        temporary.write_text(json.dumps(older(data)), encoding="utf-8")
        os.replace(temporary, path)


def workspace(case: Case, server: WireServer, pki: Path, root: Path) -> Workspace:
    ws = Workspace(root=root, case=case.name, server=server, pki=pki,
                   config=base_config(root, server.case_url(case.name), pki),
                   config_path=root / "iaso.yaml",
                   args=dict(STATEFUL_ARGS if case.steps else WAIT_ARGS))
    ws.run_quietly = lambda probe: _quiet(ws, probe)
    return ws


def _quiet(ws: Workspace, probe: str) -> None:
    run = run_probe(ws, probe)
    assert run.code == 0, f"setting the scene, {probe} gave {run.stdout[:300]!r}"


def expected_label(case: Case) -> str:
    states = list(case.expect.values()) + [s for step in case.steps for s in step.expect.values()]
    worst = max((max(s) if isinstance(s, frozenset) else s) for s in states if s is not None)
    return ("ok", "warn", "crit", "unknown")[worst]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{expected_label(c)}-{c.name}")
def test_campaign_case(case: Case, wire: Tuple[WireServer, Path], tmp_path: Path) -> None:
    server, pki = wire
    state = server.state(case.name)
    if case.scenario:
        state.contract.set_scenario(scenario_from({
            "credentials": {"username": USERNAME, "password": PASSWORD}, **case.scenario}))
    ws = workspace(case, server, pki, tmp_path)
    if case.prepare is not None:
        ws.write_config()
        case.prepare(ws)
    ws.write_config()
    if ws.namespace:
        require_namespace()
    failures: List[str] = []
    ran = 0
    for index, step in enumerate(case.steps or (Step(0.0, None, case.expect),)):
        if step.advance:
            state.clock.advance(step.advance)
            age_state(ws.state_dir, step.advance)
        state.mode = step.mode
        runs = run_all(ws, tuple(p for p in PROBES if p in step.expect))
        ran += len(runs)
        where = f"run {index + 1}, " if case.steps else ""
        for run in runs:
            SEEN.setdefault(case.name, {}).setdefault(run.probe, []).append(run)
            if TRACE:
                with open(TRACE, "a", encoding="utf-8") as trace:
                    trace.write(f"{case.name} {where}{run.probe} exit {run.code} "
                                f"{run.elapsed:.2f} s: {run.stdout.partition(chr(10))[0]!r} "
                                f"{run.stderr[-200:]!r}\n")
            broken = broken_promises(run, step.expect[run.probe], ws)
            if broken:
                failures.append(f"{where}{run.probe}: {'; '.join(broken)}\n    "
                                f"{run.stdout[:300]!r} {run.stderr[-300:]!r}")
    for kind, count in (case.launches or {}).items():
        if kind in case.probes:
            seen = state.launches(kind)
            if seen != count:
                failures.append(f"{kind}: {seen} job(s) launched, expected {count}")
    leaks = leaked_into_files(ws)
    if leaks:
        failures.append(f"a secret in the files the runs left: {leaks}")
    hits = server.canary_hits.get(case.name, [])
    if hits:
        failures.append(f"{len(hits)} connection(s) reached the other host (127.0.0.2): "
                        f"{hits[0][:200]!r}")
    if ws.concurrency > 1 and ws.config["logging"]["results"]:
        lines = Path(ws.config["logging"]["results"]).read_text().splitlines()
        whole = sum(1 for line in lines if _json_object(line))
        if whole != len(lines) or len(lines) != ran:
            failures.append(f"results log: {whole} whole records of {len(lines)} lines")
    CAMPAIGN["finished"] = time.monotonic()
    if failures:
        BROKEN[case.name] = failures
    assert not failures, "\n".join(failures)


def test_ok_every_case_is_described_in_the_reliability_page() -> None:
    page = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    missing = [c.name for c in CASES if f"`{c.name}`" not in page]
    assert not missing, f"docs/reliability.md does not describe: {missing}"


def _json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# --- the report -------------------------------------------------------------------------------


def cell(runs: List[Run], multi: bool) -> str:
    if not runs:
        return "-"
    if multi:
        return "".join(STATE_NAMES[r.code][0] if 0 <= r.code <= 3 else "x" for r in runs)
    names = sorted({STATE_NAMES[r.code] if 0 <= r.code <= 3 else f"exit {r.code}"
                    for r in runs})
    return "/".join(names)


def test_ok_report_the_campaign(wire: Tuple[WireServer, Path],
                                capsys: pytest.CaptureFixture) -> None:
    if not SEEN:
        pytest.skip("the campaign did not run")
    by_name = {c.name: c for c in CASES}
    width = max(len(name) for name in SEEN)
    lines = [f"{'case':{width}}  " + " ".join(f"{p[:13]:>13}" for p in PROBES)]
    for family in dict.fromkeys(c.family for c in CASES):
        lines.append(f"-- {family}")
        for name in (c.name for c in CASES if c.family == family and c.name in SEEN):
            multi = bool(by_name[name].steps)
            cells = [cell(SEEN[name].get(p, []), multi) for p in PROBES]
            mark = "  <- broken" if name in BROKEN else ""
            lines.append(f"{name:{width}}  " + " ".join(f"{c:>13}" for c in cells) + mark)
    runs = [r for probes in SEEN.values() for rs in probes.values() for r in rs]
    counts = {n: sum(1 for r in runs if 0 <= r.code <= 3 and STATE_NAMES[r.code] == n)
              for n in STATE_NAMES}
    other = sum(1 for r in runs if not 0 <= r.code <= 3)
    timed = [r for r in runs if not r.hung]
    slowest = max(timed, key=lambda r: r.elapsed) if timed else None
    slow_case = next(n for n, ps in SEEN.items() for rs in ps.values() for r in rs
                     if r is slowest) if slowest else "-"
    families = {f: sum(1 for c in CASES if c.family == f and c.name in SEEN)
                for f in dict.fromkeys(c.family for c in CASES)}
    lines.append(f"{len(SEEN)} cases ({', '.join(f'{n} {f}' for f, n in families.items())}); "
                 f"{len(runs)} runs; states seen: "
                 + ", ".join(f"{k} {v}" for k, v in counts.items())
                 + (f", other exit codes {other}" if other else ""))
    if slowest is not None:
        lines.append(f"slowest run that ended: {slowest.probe} on {slow_case}, "
                     f"{slowest.elapsed:.2f} s for -t {TIMEOUT:g} "
                     f"({slowest.elapsed / TIMEOUT:.2f}x); runs killed after "
                     f"{HANG_GUARD:g} s: {sum(1 for r in runs if r.hung)}; runs made again "
                     f"for a signal sent late or before a handler: {len(SIGNALS_LATE)}")
    lines.append(f"cases breaking a promise: {len(BROKEN)}; runs: "
                 f"{sum(r.elapsed for r in runs):.0f} s of probe time in "
                 f"{CAMPAIGN['finished'] - CAMPAIGN['started']:.0f} s, {PARALLEL} at a time")
    hits = {case: len(found) for case, found in wire[0].canary_hits.items() if found}
    lines.append(f"connections that reached the other host (127.0.0.2): {hits or 'none'}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert not hits
