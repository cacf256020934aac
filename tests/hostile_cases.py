"""The cases of the second hostile campaign, and the state the policy expects of each probe.

Three families. Protocol and parser confusion: what the server puts on the wire (framing,
interim answers, redirects, JSON, Unicode, tokens, echoed secrets, TLS chains). A half-working
API: stateful backup and restore checks over many runs, the case's clock moved forward between
runs, the API failing in one way for a while. Bad local input and process conditions: files,
environment, descriptors, limits, signals and file systems around the probe.

Every expectation comes from docs/state-policy.md, docs/reliability.md, docs/configuration.md,
docs/scheduling-jobs.md or the HTTP, JSON and YAML specifications, never from what the code
does today; ``why`` says which. A case expects one state per probe (or, where the policy allows
two, a set of them); probes missing from ``expect`` are not concerned and are not run.
"""
from __future__ import annotations

import gzip
import json
import random
import re
import secrets
import signal
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote_plus

from hostile_wire import PASSWORD, USERNAME, Exchange, Handler, WireServer

PROBES = ("life", "health", "response_time", "auth", "backup", "restore")
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
TIMEOUT = 3.0
API_ONLY = ("life", "health", "response_time")
LOGIN = ("auth", "backup", "restore")
JOBS = ("backup", "restore")
WAIT_ARGS: Dict[str, List[str]] = {
    "life": [], "health": [], "response_time": ["-n", "2"], "auth": [],
    "backup": ["-S", "pair", "--wait"], "restore": ["-R", "hosts-file", "--wait"]}
STATEFUL_ARGS: Dict[str, List[str]] = dict(WAIT_ARGS, backup=["-S", "pair"],
                                           restore=["-R", "hosts-file"])
LONG_JOBS = {"job_speed": 1, "job_duration": 4 * 3600}

Expected = Union[int, FrozenSet[int]]


def each(state: Expected, probes: Tuple[str, ...] = PROBES, **others: Expected
         ) -> Dict[str, Expected]:
    """``state`` for every probe of ``probes``, with per-probe exceptions."""
    table = {probe: state for probe in probes}
    table.update(others)
    return table


def affects(probes: Tuple[str, ...], state: Expected) -> Dict[str, Expected]:
    """``state`` for ``probes``, OK for the others (the fault is not on their path)."""
    return {probe: state if probe in probes else OK for probe in PROBES}


# --- the workspace of one case: what the probes run with -------------------------------------


@dataclass
class Workspace:
    """Files, configuration, environment and process conditions for the runs of one case."""

    root: Path
    case: str
    server: WireServer
    pki: Path
    config: Dict[str, Any]
    config_path: Path
    args: Dict[str, List[str]]
    env: Dict[str, str] = field(default_factory=dict)
    unset: List[str] = field(default_factory=list)
    shell: List[str] = field(default_factory=list)        # sh lines run before the probe
    namespace: bool = False                               # run in a private mount namespace
    prlimit: List[str] = field(default_factory=list)
    signal_at: Dict[str, Tuple[int, float]] = field(default_factory=dict)
    capture_stdout: bool = True
    cwd: Optional[Path] = None
    concurrency: int = 1
    names: Optional[str] = None      # what an UNKNOWN first line must name (file, key)
    config_text: Optional[str] = None
    config_kept: bool = False        # the probes get config_path as prepared: never write it
    run_quietly: Optional[Callable[[str], None]] = None  # a plain run, to set a scene

    @property
    def environment(self) -> Dict[str, Any]:
        return self.config["environments"]["lab"]

    @property
    def state_dir(self) -> Path:
        return Path(self.environment["jobs"]["state_dir"])

    def write_config(self) -> None:
        import yaml

        if self.config_kept:
            return
        text = self.config_text if self.config_text is not None else yaml.safe_dump(
            self.config, allow_unicode=True)
        self.config_path.write_text(text, encoding="utf-8")

    def state_files(self) -> List[Path]:
        return sorted(p for p in self.state_dir.rglob("*.json") if p.is_file())


def base_config(root: Path, url: str, pki: Path) -> Dict[str, Any]:
    secret = root / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o600)
    return {
        "logging": {"results": str(root / "results.jsonl"), "application": str(root / "app.log"),
                    "level": "debug"},
        "environments": {"lab": {
            "base_url": url,
            "credentials": {"username": USERNAME, "password_file": str(secret)},
            "tls": {"ca_bundle": str(pki / "ca.pem")},
            "proxy": "none",
            "jobs": {"state_dir": str(root / "state"), "poll_interval": 0.3,
                     "max_poll_interval": 1.0},
            "backup_sets": {"pair": [{"hostname": "vm-a", "level": "incremental"},
                                     {"hostname": "vm-b", "level": "full"}]},
            "restores": {"hosts-file": {"hostname": "vm-a", "file_name": "hosts",
                                        "source_path": "/etc", "destination": "/tmp/restored"}},
        }}}


# --- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One run of a multi-run case: how much simulated time passed, the API's mode, the states
    expected (None: the probe runs and keeps every promise, its state is not asserted)."""

    advance: float
    mode: Any
    expect: Mapping[str, Optional[Expected]]


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    does: str
    why: str
    expect: Mapping[str, Expected] = field(default_factory=dict)
    handle: Handler = Exchange.contract
    listener: str = "plain"
    prepare: Optional[Callable[[Workspace], None]] = None
    steps: Tuple[Step, ...] = ()
    scenario: Optional[Mapping[str, Any]] = None
    launches: Optional[Mapping[str, int]] = None   # kind → successful launches, whole case

    @property
    def probes(self) -> Tuple[str, ...]:
        if self.steps:
            seen = {p for step in self.steps for p in step.expect}
            return tuple(p for p in PROBES if p in seen)
        return tuple(p for p in PROBES if p in self.expect)


CASES: List[Case] = []


def case(name: str, family: str, does: str, why: str, **kwargs: Any) -> None:
    CASES.append(Case(name, family, does, why, **kwargs))


# --- handlers --------------------------------------------------------------------------------


def contract(ex: Exchange) -> None:
    ex.contract()


def only(roles: Tuple[str, ...], handler: Handler) -> Handler:
    """``handler`` for requests of ``roles``, the contract for the others."""
    def handle(ex: Exchange) -> None:
        (handler if ex.role in roles else contract)(ex)
    return handle


def changed(changes: Mapping[str, Callable[[Dict[str, Any], Exchange], Any]],
            ascii_only: bool = False) -> Handler:
    """The contract's answers with the successful document of some roles changed."""
    def handle(ex: Exchange) -> None:
        status, document = ex.answer()
        change = changes.get(ex.role or "")
        if change is not None and 200 <= status < 300 and isinstance(document, dict):
            document = change(dict(document), ex)
        ex.send(status, json.dumps(document, ensure_ascii=ascii_only).encode("utf-8"))
    return handle


def error(status: int, message: str) -> Handler:
    def handle(ex: Exchange) -> None:
        ex.send(status, json.dumps({"statusCode": status, "message": message},
                                   ensure_ascii=False).encode("utf-8"), reason="Error")
    return handle


def redirect(location: Callable[[Exchange], str], status: int = 302) -> Handler:
    def handle(ex: Exchange) -> None:
        ex.send(status, b"", {"Location": location(ex)}, reason="Redirect")
    return handle


def held(seconds: float, roles: Optional[Tuple[str, ...]] = None,
         then: Handler = contract) -> Handler:
    """Answer after ``seconds`` (requests of ``roles`` only, when given)."""
    def handle(ex: Exchange) -> None:
        if roles is None or ex.role in roles:
            ex.wait(seconds)
        then(ex)
    return handle


def head(status: int, body: bytes, lines: List[str]) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status} OK", *lines]) + "\r\n\r\n").encode("latin-1") + body


def mode_is(value: Any, handler: Handler) -> Handler:
    """``handler`` while the case's mode is ``value``, the contract otherwise."""
    def handle(ex: Exchange) -> None:
        (handler if ex.state.mode == value else contract)(ex)
    return handle


def canary_url(ex: Exchange) -> str:
    return f"127.0.0.2:{ex.server.canary(ex.case)}"


# --- family 1: protocol and parser confusion --------------------------------------------------

P = "protocol and parser confusion"

case("redirect-with-userinfo-to-our-own-origin", P,
     "307 to http://monitor:secret@127.0.0.1:<own>/<same path>?again: our origin, with "
     "credentials of the API's choosing",
     "reliability: a Location with userinfo in its authority is refused: CRITICAL",
     expect=each(CRITICAL),
     handle=lambda ex: ex.contract() if "again" in ex.received.target else ex.send(
         307, b"", {"Location": f"http://monitor:secret@127.0.0.1:{ex.server.ports[ex.listener]}"
                                f"{ex.received.target}?again=1"}, reason="Redirect"))

case("redirect-fragment-hides-another-host", P,
     "307 to http://127.0.0.1:<own>#@127.0.0.2:<canary>/: '@' after '#' belongs to the fragment",
     "RFC 3986 3.5: the authority ends at '#', so the target is our own '/' (no such route: "
     "404) or a refused redirect: CRITICAL either way; nothing may reach 127.0.0.2",
     expect=each(CRITICAL),
     handle=redirect(lambda ex: f"http://127.0.0.1:{ex.server.ports[ex.listener]}"
                                f"#@{canary_url(ex)}/", 307))

case("redirect-port-out-of-range", P,
     "302 to http://127.0.0.1:<own port + 70000>/...",
     "RFC 3986 3.2.3 and the state policy: an unusable redirect is the API's fault (CRITICAL)",
     expect=each(CRITICAL),
     handle=redirect(lambda ex: f"http://127.0.0.1:{ex.server.ports['plain'] + 70000}"
                                f"{ex.received.target}"))

case("redirect-to-a-file-url", P,
     "302 to file:///etc/passwd",
     "state policy: redirect to another scheme is CRITICAL, not followed",
     expect=each(CRITICAL), handle=redirect(lambda ex: "file:///etc/passwd"))


def _within_origin(ex: Exchange) -> None:
    if "again" in ex.received.target:
        ex.contract()
    else:
        ex.send(307, b"", {"Location": ex.received.target + "?again=1"}, reason="Redirect")


case("redirect-307-within-the-origin", P,
     "every call is first answered 307 to the same path with a query, then served",
     "state policy: redirects within the origin are followed; 307 keeps method and body "
     "(RFC 9110 15.4.8), so every probe is OK",
     expect=each(OK), handle=_within_origin)

case("interim-unassigned-1xx", P,
     "'199' with a header, then '100 Continue', then the answer",
     "RFC 9110 15.2: unknown 1xx codes are interim answers too; only the final answer counts",
     expect=each(OK),
     handle=lambda ex: ex.send(ex.status, ex.good(), head=b"HTTP/1.1 199 Unassigned\r\n"
                               b"X-Note: interim\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"))


def _two_lengths(ex: Exchange) -> None:
    body = ex.good()
    ex.raw(head(ex.status, body, ["Content-Type: application/json",
                                  f"Content-Length: {len(body)}",
                                  f"Content-Length: {len(body) + 7}", "Connection: close"]))


case("content-length-twice-differing", P,
     "two Content-Length fields with different values (the first one true)",
     "RFC 9112 6.3: a user agent must treat invalid framing as an unrecoverable error, so "
     "there is no answer: CRITICAL",
     expect=each(CRITICAL), handle=_two_lengths)

FORGED = {"statusCode": 200, "token": "forged-token", "expiresIn": 3600, "started": True,
          "status": "Completed", "percentComplete": 100, "hostname": "vm-a",
          "components": [{"name": "commserve", "status": "healthy"}]}


def _smuggling(ex: Exchange) -> None:
    status, document = ex.answer()
    if ex.role in ("backup", "restore") and status == 202:
        ex.state.memory["last"] = document["jobId"]
    if ex.role == "job_status" and status == 200:
        document = dict(document, status="Failed", failureReason="media agent offline")
    forged = json.dumps(dict(FORGED, jobId=ex.state.memory.get("last", 41000))).encode()
    body = json.dumps(document).encode()
    ex.raw(head(status, body, ["Content-Type: application/json", f"Content-Length: {len(body)}",
                               "Connection: keep-alive"])
           + head(200, forged, ["Content-Type: application/json",
                                f"Content-Length: {len(forged)}", "Connection: keep-alive"]))
    ex.keep_alive = True


case("smuggled-answer-after-the-body", P,
     "keep-alive answers carrying, in the same write, a second answer nobody asked for that "
     "says 'Completed'; every job really fails",
     "RFC 9112 9.3: an answer is only ever for the request it follows; bytes nobody asked for "
     "are never the next answer: every launch reaches the server, jobs fail: CRITICAL",
     expect=affects(JOBS, CRITICAL), handle=_smuggling, launches={"backup": 2, "restore": 1})

case("http-1.0-close-delimited", P,
     "'HTTP/1.0 200' without Content-Length: the body ends when the connection closes",
     "RFC 9112 6.3 rule 8: a close-delimited body is complete at the close; every probe is OK",
     expect=each(OK),
     handle=lambda ex: ex.raw(f"HTTP/1.0 {ex.status} OK\r\nContent-Type: application/json\r\n"
                              f"\r\n".encode() + ex.good()))


def _chunked_extensions(ex: Exchange) -> None:
    body = ex.good()
    first, second = body[:5], body[5:]
    ex.raw(f"HTTP/1.1 {ex.status} OK\r\nContent-Type: application/json\r\n"
           f"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n"
           f"{len(first):x};part=one\r\n".encode() + first
           + f"\r\n{len(second):X}\r\n".encode() + second
           + b"\r\n0;last\r\nX-Checksum: none\r\n\r\n")


case("chunked-with-extensions-and-trailer", P,
     "chunked body with chunk extensions, an upper-case size and a trailer field",
     "RFC 9112 7.1: extensions and trailers are valid and ignored; every probe is OK",
     expect=each(OK), handle=_chunked_extensions)

case("chunk-size-overflowing", P,
     "chunk size 'ffffffffffffffffffffffff' followed by a short body",
     "RFC 9112 7.1: the framing cannot be met; no complete answer: CRITICAL",
     expect=each(CRITICAL),
     handle=lambda ex: ex.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n"
                              + ex.good()))

case("no-status-line", P,
     "the JSON body alone, without status line or header (an HTTP/0.9 answer)",
     "RFC 9112 2.2: not an HTTP/1.1 answer: CRITICAL",
     expect=each(CRITICAL), handle=lambda ex: ex.raw(ex.good()))

case("status-code-999", P,
     "'HTTP/1.1 999 Whatever' with the right body",
     "RFC 9110 15: status codes are 100..599; anything else is no success: CRITICAL",
     expect=each(CRITICAL), handle=lambda ex: ex.send(999, ex.good(), reason="Whatever"))

case("folded-header-line", P,
     "Content-Type folded over two lines (obs-fold)",
     "RFC 9112 5.2: a user agent replaces obs-fold with a space; every probe is OK",
     expect=each(OK),
     handle=lambda ex: ex.raw(head(ex.status, ex.good(), [
         "Content-Type: application/json;", " charset=utf-8",
         f"Content-Length: {len(ex.good())}", "Connection: close"])))

case("header-line-of-100-kib", P,
     "a 100 KiB header field before the answer",
     "RFC 9112 3: a recipient may refuse an over-long field; the answer is unusable: CRITICAL",
     expect=each(CRITICAL),
     handle=lambda ex: ex.send(ex.status, ex.good(), {"X-Padding": "a" * 102400}))

case("json-in-utf-16", P,
     "the right document encoded in UTF-16 with a byte-order mark",
     "RFC 8259 8.1: JSON between systems must be UTF-8; not JSON: CRITICAL",
     expect=each(CRITICAL),
     handle=lambda ex: ex.send(ex.status, json.dumps(ex.document).encode("utf-16"),
                               {"Content-Type": "application/json; charset=utf-16"}))

case("json-with-trailing-garbage", P,
     "the right document followed by an HTML comment",
     "RFC 8259 2: a JSON text is one value; anything after it makes the body not JSON: "
     "CRITICAL",
     expect=each(CRITICAL),
     handle=lambda ex: ex.send(ex.status, ex.good() + b"\n<!-- served from cache -->\n"))


def _key_twice_escaped(document: Any) -> bytes:
    text = json.dumps(document)
    if not isinstance(document, dict) or not document:
        return text.encode()
    first = next(iter(document))
    escaped = f"\\u{ord(first[0]):04x}" + first[1:]
    return ('{"' + escaped + '": "bogus", ' + text[1:]).encode()


case("json-key-twice-through-an-escape", P,
     "the first key given twice, once spelt with a \\u escape, the bogus value first",
     "RFC 8259 4 and the state policy: a key named twice is ambiguous: CRITICAL",
     expect=each(CRITICAL),
     handle=lambda ex: ex.send(ex.status, _key_twice_escaped(ex.document)))


def _health_component(name: str, status: str, message: Optional[str] = None
                      ) -> Callable[[Dict[str, Any], Exchange], Any]:
    def change(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
        components = [c for c in document["components"] if c["name"] != "vcenter"]
        extra = {"name": name, "type": "external", "status": status}
        if message is not None:
            extra["message"] = message
        document["components"] = [*components, extra]
        return document
    return change


def _failed_job(reason: str) -> Callable[[Dict[str, Any], Exchange], Any]:
    def change(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
        return dict(document, status="Failed", failureReason=reason)
    return change


case("lone-surrogates-in-texts", P,
     "an unhealthy component named 'vcenter-\\ud800'; jobs Failed with reason 'disk \\udcff "
     "full' (escaped lone surrogates)",
     "RFC 8259 8.2: such strings are valid JSON of unpredictable meaning; the faults are "
     "CRITICAL and the output must still be written",
     expect=affects(("health", "backup", "restore"), CRITICAL),
     handle=changed({"health": _health_component("vcenter-\ud800", "unhealthy"),
                     "job_status": _failed_job("disk \udcff full")}, ascii_only=True))

case("paragraph-separator-in-error-text", P,
     "every call answers 500 'CommServe down<U+2029>IASO LIFE OK - INJECTED'",
     "state policy: HTTP 500 is CRITICAL; first line without line separators (U+2029 is one "
     "for str.splitlines and Unicode), nothing injected",
     expect=each(CRITICAL),
     handle=error(500, "CommServe down\u2029IASO LIFE OK - INJECTED"))

case("bidi-isolates-and-c1-controls", P,
     "component '<U+2067>vcenter<U+2069><U+200F>' unhealthy with an OSC escape in its message; "
     "jobs Failed with isolates and C1 controls in the reason",
     "state policy: unhealthy and failed are CRITICAL; no control or bidi-control character "
     "in any line",
     expect=affects(("health", "backup", "restore"), CRITICAL),
     handle=changed({"health": _health_component("\u2067vcenter\u2069\u200f", "unhealthy",
                                                 "probe \u009d0;pwned\u009c \u061cfailed"),
                     "job_status": _failed_job("\u2066quota\u2069 \u0090exceeded\u009c")}))


def _duplicate_component(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
    document["components"] = document["components"] + [
        {"name": "commserve", "type": "internal", "status": "unhealthy"}]
    return document


case("component-listed-twice", P,
     "commserve listed twice, healthy then unhealthy",
     "state policy: an unhealthy component is CRITICAL; which entry is true is ambiguous, "
     "and ambiguity is never OK",
     expect=affects(("health",), CRITICAL),
     handle=changed({"health": _duplicate_component}))


def _many_components(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
    document["components"] = [
        {"name": f"media_agent_{i:04d}", "type": "internal",
         "status": "unhealthy" if i % 2 else "healthy",
         "message": "index cache full" if i % 2 else None} for i in range(5000)]
    return document


case("5000-components-half-unhealthy", P,
     "a health answer of 5,000 components, 2,500 unhealthy",
     "state policy: CRITICAL; the whole output stays under 4,000 bytes, within -t",
     expect=affects(("health",), CRITICAL), handle=changed({"health": _many_components}))


def _same_job_id(ex: Exchange) -> None:
    memory = ex.state.memory
    status, document = ex.answer()
    if ex.role in ("backup", "restore") and status == 202:
        first = memory.setdefault(f"first-{ex.role}", document["jobId"])
        memory.setdefault("hosts", {})[document["jobId"]] = document["hostname"]
        document = dict(document, jobId=first)
    elif ex.role == "job_status" and status in (200, 404):
        request = ex.request or {}
        job_id = request.get("jobId")
        owner = memory.get("hosts", {}).get(job_id, request.get("hostname"))
        contract = ex.state.contract
        found = contract.jobs.status(job_id, str(owner), contract.scenario)
        status, document = (200, found) if found else (404, {"statusCode": 404})
    ex.send(status, json.dumps(document).encode())


case("same-job-id-for-every-launch", P,
     "every launch of a backup set is answered with the job ID of the first one",
     "two backups, one job: the second host's backup is not followed, nothing may be lost: "
     "CRITICAL for the set (one restore is not concerned)",
     expect=affects(("backup",), CRITICAL), handle=_same_job_id)

case("job-status-homoglyph", P,
     "'Completed' spelt with a Cyrillic small o (U+043E)",
     "state policy and the outcome table: a status the table does not know is UNKNOWN, never "
     "read as Completed",
     expect=affects(JOBS, UNKNOWN),
     handle=changed({"job_status": lambda d, ex: dict(
         d, status=d["status"].replace("Completed", "C\u043empleted"))}))

case("job-status-odd-case-and-spacing", P,
     "statuses upper-cased and padded with spaces ('  COMPLETED  ')",
     "the outcome table matches statuses ignoring case and spacing: every probe is OK",
     expect=each(OK),
     handle=changed({"job_status": lambda d, ex: dict(d, status=f"  {d['status'].upper()}  ")}))

case("job-id-changes-json-type", P,
     "launches answer the job ID as a text ('41000'), statuses as a number",
     "the same identifier in either JSON type is the same job: every probe is OK",
     expect=each(OK),
     handle=changed({"backup": lambda d, ex: dict(d, jobId=str(d["jobId"])),
                     "restore": lambda d, ex: dict(d, jobId=str(d["jobId"]))}))

case("elapsed-of-1e308-seconds", P,
     "job status with elapsedSeconds 1e308 (finite, older than the universe)",
     "issue 9 item 18's rule: a field that is not a finite number in range is CRITICAL naming "
     "the field",
     expect=affects(JOBS, CRITICAL),
     handle=changed({"job_status": lambda d, ex: dict(d, elapsedSeconds=1e308)}))


def _jwt(claims: str) -> str:
    import base64

    def segment(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    return ".".join((segment('{"alg":"HS256","typ":"JWT"}'), segment(claims),
                     secrets.token_urlsafe(32)))


def _login_with_token(token: Callable[[], Any], **extra: Any
                      ) -> Callable[[Dict[str, Any], Exchange], Any]:
    def change(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
        value = token()
        if isinstance(value, str):
            ex.state.minted.append(value)
            with ex.server.lock:
                ex.state.contract.tokens[value] = 1e12
        document = {k: v for k, v in document.items() if k != "expiresIn"}
        return dict(document, token=value, **extra)
    return change


case("jwt-exp-is-nan", P,
     "the login's token is a JWT whose exp claim is NaN, and no expiresIn",
     "issue 9 item 18's rule (a JWT exp out of range): CRITICAL naming the claim, for the probe "
     "that reads the token's lifetime; the others only need the token, which is usable",
     expect=affects(("auth",), CRITICAL),
     handle=changed({"login": _login_with_token(lambda: _jwt('{"sub":"nagios","exp":NaN}'))}))

case("expires-in-as-text", P,
     "login answers expiresIn \"3600\" (a text)",
     "state policy: a field of the wrong type is CRITICAL, for the probe that reads it (the "
     "token's lifetime is check_iaso_auth's)",
     expect=affects(("auth",), CRITICAL),
     handle=changed({"login": lambda d, ex: dict(d, expiresIn="3600")}))

case("token-outside-latin-1", P,
     "login answers a token with a snowman (U+2603) in it",
     "issue 9 item 17's rule: a token that cannot travel in a header is CRITICAL at login",
     expect=affects(LOGIN, CRITICAL),
     handle=changed({"login": _login_with_token(lambda: "t\u00f6k\u2603n-"
                                                + secrets.token_hex(8))}))

case("token-is-a-number", P,
     "login answers token: 123456789",
     "state policy: accepted without a (text) token is CRITICAL",
     expect=affects(LOGIN, CRITICAL),
     handle=changed({"login": lambda d, ex: dict(d, token=123456789)}))

case("login-answers-200-KO", P,
     "login answers HTTP 200 with the JSON text \"KO\"",
     "domain: failure returns 'KO'; state policy: login rejected or a body of the wrong shape "
     "is CRITICAL",
     expect=affects(LOGIN, CRITICAL),
     handle=only(("login",), lambda ex: ex.send(200, b'"KO"')))

case("login-error-echoes-the-request-body", P,
     "login answers 400 quoting the request body it received (the password JSON-escaped)",
     "state policy: CRITICAL; no secret in any form (\\u-escaped, \\\" and \\\\) anywhere",
     expect=affects(LOGIN, CRITICAL),
     handle=only(("login",), lambda ex: error(
         400, "invalid login request " + ex.received.body.decode("utf-8", "replace"))(ex)))

case("login-error-echoes-the-password-form-encoded", P,
     "login answers 401 quoting 'password=' and the password form-encoded, lower-case hex",
     "state policy: CRITICAL; no secret in any form (RFC 3986 2.1: %c3%a9 and %C3%A9 are the "
     "same octet) anywhere",
     expect=affects(LOGIN, CRITICAL),
     handle=only(("login",), lambda ex: error(401, "KO for username=nagios&password=" + re.sub(
         r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote_plus(PASSWORD)))(ex)))


def _echo_authorization(ex: Exchange) -> None:
    if ex.status == 401:
        ex.contract()
        return
    error(500, "upstream refused Authorization: "
          + str(ex.received.headers.get("Authorization", "")))(ex)


case("error-echoes-the-authorization-header", P,
     "backup, restore and status calls answer 500 quoting the Authorization header",
     "state policy: CRITICAL; the bearer token never shows",
     expect=affects(JOBS, CRITICAL),
     handle=only(("backup", "restore", "job_status"), _echo_authorization))


@cache
def _bomb(layers: int) -> bytes:
    """Zeros compressed: zlib (deflate) of 512 MiB, or gzip of that inside gzip."""
    chunk = b"\0" * (1 << 20)
    if layers == 1:
        packer = zlib.compressobj(9)
        return b"".join(packer.compress(chunk) for _ in range(512)) + packer.flush()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    inner = b"".join(packer.compress(chunk) for _ in range(512)) + packer.flush()
    return gzip.compress(inner, compresslevel=9)


MEMORY_LIMIT = 1 << 30


def warm_up() -> None:
    """Make what the server would otherwise make during a timed run."""
    _bomb(1)
    _bomb(2)


def _memory_limit(ws: Workspace) -> None:
    ws.prlimit.append(f"--as={MEMORY_LIMIT}")


case("deflate-bomb-under-1-gib", P,
     "Content-Encoding: deflate, 512 MiB of zeros in 0.5 MB, probe limited to 1 GiB of address "
     "space",
     "state policy: larger than max_body_bytes is CRITICAL and is not read further",
     expect=each(CRITICAL), prepare=_memory_limit,
     handle=lambda ex: ex.send(200, _bomb(1), {"Content-Encoding": "deflate"}))

case("gzip-inside-gzip-bomb-under-1-gib", P,
     "Content-Encoding: gzip, gzip (a bomb inside a bomb, 512 MiB), probe limited to 1 GiB",
     "state policy: larger than max_body_bytes is CRITICAL and is not read further",
     expect=each(CRITICAL), prepare=_memory_limit,
     handle=lambda ex: ex.send(200, _bomb(2), {"Content-Encoding": "gzip, gzip"}))

case("tls-certificate-not-yet-valid", P,
     "a certificate from the trusted CA whose validity starts tomorrow",
     "state policy: TLS failure (untrusted, expired or wrong-host) is CRITICAL",
     expect=each(CRITICAL), listener="notyet")

case("tls-chain-through-a-non-ca", P,
     "a leaf issued by a certificate the CA made with CA:FALSE, sent as its chain",
     "RFC 5280 4.2.1.9: a CA:FALSE certificate cannot sign; untrusted: CRITICAL",
     expect=each(CRITICAL), listener="leafsigned")


# --- family 2: a half-working API -------------------------------------------------------------

H = "a half-working API"

case("answers-200-OK-to-everything", H,
     "every call, any path, answers 200 {\"statusCode\": 200, \"message\": \"OK\"}",
     "state policy: life is as the contract says (OK); no components, no token: CRITICAL",
     expect=each(CRITICAL, life=OK, response_time=OK),
     handle=lambda ex: ex.send(200, b'{"statusCode": 200, "message": "OK"}'))


case("tokens-expire-mid-follow", H,
     "every token lives half a second (expiresIn 0): the job status calls meet 401 mid-follow",
     "client contract: a 401 on an authenticated call triggers one re-login, so backups and "
     "restores are OK; state policy: a token lifetime under -L (300 s) is a WARNING for auth",
     expect=each(OK, auth=WARNING),
     scenario={"token_lifetime": 0.5, "job_speed": 60, "job_duration": 30})

STATEFUL = dict(scenario=LONG_JOBS, launches={"backup": 2, "restore": 1})
JOB_OK = {"backup": OK, "restore": OK}
JOB_CRIT = {"backup": CRITICAL, "restore": CRITICAL}
JOB_FREE: Dict[str, Optional[Expected]] = {"backup": None, "restore": None}
JOB_ALERT = {"backup": frozenset({WARNING, CRITICAL}), "restore": frozenset({WARNING, CRITICAL})}

case("login-refused-one-run-in-two", H,
     "stateful runs every 10 minutes; the login is refused (401 KO) every other run; then "
     "the jobs end",
     "state policy: login rejected is CRITICAL in that run; scheduling-jobs: the jobs are "
     "followed to their outcome (OK), launched once, none lost",
     handle=mode_is("refuse", only(("login",), error(401, "KO"))),
     steps=(Step(0, None, dict(JOB_OK, auth=OK)),
            Step(600, "refuse", dict(JOB_CRIT, auth=CRITICAL, life=OK, health=OK,
                                     response_time=OK)),
            Step(600, None, dict(JOB_OK, auth=OK)),
            Step(600, "refuse", dict(JOB_CRIT, auth=CRITICAL)),
            Step(4 * 3600, None, dict(JOB_OK, auth=OK))),
     **STATEFUL)


def _flapping(document: Dict[str, Any], ex: Exchange) -> Dict[str, Any]:
    polls = ex.state.count(("flap", str((ex.request or {}).get("jobId"))))
    return dict(document, status="Pending" if polls % 2 else "Running", percentComplete=20.0)


case("status-flaps-pending-running", H,
     "every poll flips the job between Pending and Running, always at 20 %",
     "reliability and issue 9: never OK for ever; once the percentage has not moved for more "
     "than jobs.stall_critical (3600 s), from the 6th run on, never OK whatever the status word",
     handle=changed({"job_status": _flapping}),
     steps=(Step(0, None, JOB_OK), Step(1200, None, JOB_OK), Step(1200, None, JOB_OK),
            Step(1200, None, JOB_FREE), Step(1200, None, JOB_FREE),
            Step(1200, None, JOB_ALERT), Step(1200, None, JOB_ALERT), Step(1200, None, JOB_ALERT)),
     **STATEFUL)


def _unreadable(ex: Exchange) -> None:
    changes = {"empty": "", "list": ["Running"]}
    status, document = ex.answer()
    if ex.role == "job_status" and status == 200 and ex.state.mode in changes:
        document = dict(document, status=changes[ex.state.mode])
    ex.send(status, json.dumps(document).encode())


case("status-unreadable-then-readable", H,
     "status answers with status \"\" one run, status [\"Running\"] the next, then right again",
     "issue 9 item 8's rule: a read failure is CRITICAL this run and the next run polls "
     "again; the jobs' real outcome (Completed) is then reported",
     handle=_unreadable,
     steps=(Step(0, None, JOB_OK), Step(600, "empty", JOB_CRIT), Step(600, "list", JOB_CRIT),
            Step(600, None, JOB_OK), Step(4 * 3600, None, JOB_OK)),
     **STATEFUL)

case("api-restart-reuses-job-ids", H,
     "after a restart the API answers our job IDs with jobs of another host (vm-other)",
     "api-contract: a status for another host is the API's fault: CRITICAL, and never OK "
     "again for that job",
     handle=mode_is("restarted", changed({"job_status": lambda d, ex: dict(
         d, hostname="vm-other")})),
     steps=(Step(0, None, JOB_OK), Step(600, None, JOB_OK), Step(600, "restarted", JOB_CRIT),
            Step(600, "restarted", JOB_CRIT)),
     **STATEFUL)

case("status-frozen-for-hours", H,
     "every status answer says Running at 35 %, run after run",
     "configuration: stall_warning 1800 s, stall_critical 3600 s from the first answer: OK, "
     "OK, WARNING, WARNING, CRITICAL, CRITICAL",
     handle=changed({"job_status": lambda d, ex: dict(d, status="Running",
                                                      percentComplete=35.0)}),
     steps=(Step(0, None, JOB_OK), Step(900, None, JOB_OK), Step(900, None, JOB_OK),
            Step(900, None, {"backup": WARNING, "restore": WARNING}),
            Step(900, None, {"backup": WARNING, "restore": WARNING}),
            Step(900, None, JOB_CRIT), Step(900, None, JOB_CRIT)),
     **STATEFUL)

case("status-503-for-hours-then-back", H,
     "status calls answer 503 for an hour and a half, then the API is back",
     "state policy: HTTP 503 is CRITICAL in every run while it lasts; the jobs are polled "
     "again after, to their outcome (OK)",
     handle=mode_is("down", only(("job_status",), error(503, "maintenance"))),
     steps=(Step(0, None, JOB_OK), Step(1800, "down", JOB_CRIT), Step(1800, "down", JOB_CRIT),
            Step(1800, "down", JOB_CRIT), Step(1800, None, JOB_OK),
            Step(4 * 3600, None, JOB_OK)),
     **STATEFUL)

case("status-401-for-a-while", H,
     "status calls answer 401 even right after a new login, for two runs, then work",
     "state policy: HTTP 401 is CRITICAL in those runs; issue 9 item 8's rule: the next run "
     "polls again and the jobs' outcome (OK) is reported",
     handle=mode_is("deny", only(("job_status",), error(401, "token rejected"))),
     steps=(Step(0, None, JOB_OK), Step(600, "deny", JOB_CRIT), Step(600, "deny", JOB_CRIT),
            Step(600, None, JOB_OK), Step(4 * 3600, None, JOB_OK)),
     **STATEFUL)

case("job-404-for-ever", H,
     "after the launch every status call answers 404: the jobs are gone",
     "api-contract allows 404 on the first polls only; state policy: a 404 is CRITICAL; "
     "never OK for ever: CRITICAL from the third poll on",
     handle=only(("job_status",), error(404, "job not found")),
     steps=(Step(0, None, JOB_OK), Step(600, None, JOB_FREE), Step(600, None, JOB_FREE),
            Step(600, None, JOB_CRIT), Step(600, None, JOB_CRIT), Step(3600, None, JOB_CRIT)),
     **STATEFUL)


# --- family 3: bad local input and process conditions -----------------------------------------

L = "bad local input and process conditions"


def _config_is(kind: str) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        import os

        if kind == "fifo":
            ws.config_path = ws.root / "fifo.yaml"
            os.mkfifo(ws.config_path)
        elif kind == "loop":
            ws.config_path = ws.root / "loop-a.yaml"
            os.symlink(ws.root / "loop-b.yaml", ws.config_path)
            os.symlink(ws.config_path, ws.root / "loop-b.yaml")
        ws.config_kept = True
        ws.names = str(ws.config_path)
    return prepare


def _config_text(make: Callable[[Workspace, str], str]) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        import yaml

        ws.config_text = make(ws, yaml.safe_dump(ws.config, allow_unicode=True))
        ws.names = str(ws.config_path)
    return prepare


def _over_4_mib(ws: Workspace, text: str) -> str:
    filler = ("# " + "x" * 61 + "\n") * (5 * 16384)
    return text + filler + "unknown_key_after_5_mib: true\n"


def _base_url_twice(ws: Workspace, text: str) -> str:
    port = ws.server.canary(ws.case)
    url = ws.environment["base_url"]
    line = f"    base_url: {url}\n"
    assert line in text, "the configuration is not laid out as expected"
    return text.replace(line, line + f"    base_url: http://127.0.0.2:{port}/api/v1\n")


def _deeply_nested(ws: Workspace, text: str) -> str:
    return text + "extra: " + "[" * 999 + "]" * 999 + "\n"


def _environment_value(key: str, value: Callable[[Workspace], Any],
                       names: Optional[Callable[[Workspace], str]] = None
                       ) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        section = ws.environment
        *parents, last = key.split(".")
        for part in parents:
            section = section[part]
        section[last] = value(ws)
        ws.names = names(ws) if names else str(ws.config_path)
    return prepare


def _fifo(ws: Workspace, name: str) -> str:
    import os

    path = ws.root / name
    os.mkfifo(path)
    return str(path)


def _loop(ws: Workspace, name: str) -> str:
    import os

    path = ws.root / name
    os.symlink(ws.root / (name + ".other"), path)
    os.symlink(path, ws.root / (name + ".other"))
    return str(path)


def _scene(then: Callable[[Workspace, Path], None]) -> Callable[[Workspace], None]:
    """Run backup and restore once (stateful) so their state files exist, then alter them."""
    def prepare(ws: Workspace) -> None:
        assert ws.run_quietly is not None
        for probe in JOBS:
            ws.run_quietly(probe)
        files = ws.state_files()
        assert files, "the scene-setting runs left no state file"
        for path in files:
            then(ws, path)
        ws.names = str(files[0].parent)
    return prepare


def _to_fifo(ws: Workspace, path: Path) -> None:
    import os

    path.unlink()
    os.mkfifo(path)


def _to_nested(ws: Workspace, path: Path) -> None:
    path.write_text('{"format": 1, "tracks": ' + "[" * 100000 + "]" * 100000 + "}")


def _logs_at(results: Callable[[Workspace], str], application: Callable[[Workspace], str]
             ) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        ws.config["logging"]["results"] = results(ws)
        ws.config["logging"]["application"] = application(ws)
    return prepare


def _mounted(options: str, fill: bool) -> Callable[[Workspace], None]:
    """The state directory on a private tmpfs: read-only, or full."""
    def prepare(ws: Workspace) -> None:
        ws.state_dir.mkdir(parents=True, exist_ok=True)
        ws.namespace = True
        ws.shell.append(f'mount -t tmpfs -o {options} iaso-state "{ws.state_dir}"')
        if fill:
            ws.shell.append(f'mkdir "{ws.state_dir}/lab" && '
                            f'(head -c 1048576 /dev/zero > "{ws.state_dir}/filler" || true) '
                            '2>/dev/null')
        ws.names = str(ws.state_dir)
    return prepare


def _env(values: Mapping[str, Union[str, Callable[[Workspace], str]]],
         unset: Tuple[str, ...] = ()) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        for key, value in values.items():
            ws.env[key] = value(ws) if callable(value) else value
        ws.unset.extend(unset)
    return prepare


def _shell(*lines: str) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        ws.shell.extend(lines)
        if any("1>&-" in line or "1<" in line for line in lines):
            ws.capture_stdout = False
    return prepare


def _signal(signum: int, delays: Mapping[str, float], one_sample: bool = False
            ) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        ws.signal_at = {probe: (signum, delay) for probe, delay in delays.items()}
        if one_sample:
            ws.args["response_time"] = []
    return prepare


def _all(*prepares: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        for step in prepares:
            step(ws)
    return prepare


def _stateful(ws: Workspace) -> None:
    ws.args = dict(STATEFUL_ARGS)


def _argument(*extra: str) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        ws.args = {probe: list(args) + list(extra) for probe, args in ws.args.items()}
    return prepare


case("config-is-a-fifo", L, "-C names a FIFO that nobody writes",
     "state policy: configuration file unreadable is UNKNOWN naming it, within -t",
     expect=each(UNKNOWN), prepare=_config_is("fifo"))

case("config-is-a-symlink-loop", L, "-C names a symbolic link to a link to itself",
     "state policy: configuration file unreadable is UNKNOWN naming it",
     expect=each(UNKNOWN), prepare=_config_is("loop"))

case("config-of-5-mib-ending-in-an-unknown-key", L,
     "a valid configuration, 5 MiB of comment lines, then an unknown key",
     "state policy: an unknown key is UNKNOWN naming the file; a file read only in part is "
     "never taken as the whole",
     expect=each(UNKNOWN), prepare=_config_text(_over_4_mib))

case("config-names-base-url-twice", L,
     "environments.lab.base_url given twice, the second pointing at 127.0.0.2",
     "YAML 1.2 3.2.1.1: mapping keys are unique, so the file is not valid YAML: UNKNOWN "
     "naming it; nothing reaches the other host",
     expect=each(UNKNOWN), prepare=_config_text(_base_url_twice))

case("config-nested-999-deep", L,
     "an extra key holding lists nested 999 deep (within libyaml's own limit)",
     "state policy: an unknown key is UNKNOWN naming the file, never an internal error",
     expect=each(UNKNOWN), prepare=_config_text(_deeply_nested))

case("config-with-bom-and-crlf", L,
     "the configuration saved by a Windows editor: UTF-8 byte-order mark, CRLF line ends",
     "YAML 1.2 5.2 and 5.4: a BOM and CRLF are allowed; every probe is OK",
     expect=each(OK),
     prepare=_config_text(lambda ws, text: "\ufeff" + text.replace("\n", "\r\n")))

case("base-url-with-a-fragment", L, "base_url ends in '#section'",
     "configuration: base_url is the API's base, endpoint paths appended; a fragment makes "
     "every endpoint the same URL: a bad value, UNKNOWN naming the file",
     expect=each(UNKNOWN),
     prepare=_environment_value("base_url", lambda ws: ws.environment["base_url"] + "#section"))

case("base-url-with-a-trailing-newline", L, "base_url ends in a newline (a YAML block scalar)",
     "configuration: a URL cannot hold a newline (RFC 3986): UNKNOWN naming the file",
     expect=each(UNKNOWN),
     prepare=_environment_value("base_url", lambda ws: ws.environment["base_url"] + "\n"))


def _empty_ca(ws: Workspace) -> str:
    path = ws.root / "empty-ca.pem"
    path.write_bytes(b"")
    return str(path)


case("ca-bundle-is-an-empty-file", L, "tls.ca_bundle is an empty file, the API's TLS is good",
     "state policy: our configuration is at fault, not the API: UNKNOWN naming the file",
     expect=each(UNKNOWN), listener="good",
     prepare=_environment_value("tls.ca_bundle", _empty_ca,
                                names=lambda ws: ws.environment["tls"]["ca_bundle"]))

case("password-file-is-a-fifo", L, "credentials.password_file names a FIFO nobody writes",
     "state policy: password file unreadable is UNKNOWN naming it, within -t; probes that do "
     "not log in are not concerned",
     expect=affects(LOGIN, UNKNOWN),
     prepare=_environment_value("credentials.password_file", lambda ws: _fifo(ws, "pw.fifo"),
                                names=lambda ws: str(ws.root / "pw.fifo")))

case("password-file-is-a-symlink-loop", L, "credentials.password_file is a symbolic link loop",
     "state policy: password file unreadable is UNKNOWN naming it",
     expect=affects(LOGIN, UNKNOWN),
     prepare=_environment_value("credentials.password_file", lambda ws: _loop(ws, "pw.loop"),
                                names=lambda ws: str(ws.root / "pw.loop")))


def _state_dir_file(ws: Workspace) -> str:
    path = ws.root / "not-a-directory"
    path.write_text("")
    return str(path)


case("state-dir-is-a-file", L, "jobs.state_dir names a regular file (stateful runs)",
     "scheduling-jobs: a directory that is not usable is UNKNOWN naming the path",
     expect=affects(JOBS, UNKNOWN),
     prepare=_all(_stateful, _environment_value("jobs.state_dir", _state_dir_file,
                                                names=lambda ws: str(ws.root / "not-a-directory"))),
     launches={"backup": 0, "restore": 0})

case("state-file-is-a-fifo", L, "the jobs' state files replaced by FIFOs after a first run",
     "scheduling-jobs: a state file that cannot be read is UNKNOWN naming the path, within -t",
     expect=affects(JOBS, UNKNOWN), prepare=_all(_stateful, _scene(_to_fifo)))

case("state-file-nested-100000-deep", L,
     "the jobs' state files replaced by lists nested 100,000 deep",
     "scheduling-jobs: a corrupt state file is UNKNOWN naming the path, never an internal error",
     expect=affects(JOBS, UNKNOWN), prepare=_all(_stateful, _scene(_to_nested)))

case("state-dir-on-a-read-only-file-system", L,
     "jobs.state_dir is a read-only tmpfs (private mount namespace)",
     "scheduling-jobs: a directory that is not usable is UNKNOWN naming the path, nothing "
     "launched",
     expect=affects(JOBS, UNKNOWN), prepare=_all(_stateful, _mounted("ro,size=64k", False)),
     launches={"backup": 0, "restore": 0})

case("state-dir-on-a-full-file-system", L,
     "jobs.state_dir is a full tmpfs: files can be created, not written",
     "scheduling-jobs: a state file that cannot be written is UNKNOWN naming the path, and "
     "nothing is launched (a launch whose job ID cannot be kept is launched again next run)",
     expect=affects(JOBS, UNKNOWN), prepare=_all(_stateful, _mounted("size=8k", True)),
     launches={"backup": 0, "restore": 0})

case("both-logs-on-dev-full", L, "results and application logs are /dev/full (ENOSPC)",
     "reliability and results-log: a log that cannot be written never changes the state",
     expect=each(OK), prepare=_logs_at(lambda ws: "/dev/full", lambda ws: "/dev/full"))

case("application-log-is-a-fifo", L, "logging.application names a FIFO nobody reads",
     "application log: a log that cannot be opened never changes the state; within -t",
     expect=each(OK),
     prepare=_logs_at(lambda ws: str(ws.root / "results.jsonl"),
                      lambda ws: _fifo(ws, "app.fifo")))

case("results-log-is-a-fifo", L, "logging.results names a FIFO nobody reads",
     "results log: writing it never changes the state; within -t",
     expect=each(OK),
     prepare=_logs_at(lambda ws: _fifo(ws, "results.fifo"), lambda ws: str(ws.root / "app.log")))

def _private_var_tmp(ws: Workspace) -> None:
    ws.namespace = True
    ws.shell.append("mount -t tmpfs iaso-var-tmp /var/tmp")


case("home-not-writable", L,
     "HOME=/proc/self and no IASO_PROBES_CACHE_DIR (/var/tmp is a private tmpfs)",
     "configuration: a cache that cannot be used only means the file is parsed again: OK",
     expect=each(OK),
     prepare=_all(_env({"HOME": "/proc/self"}, unset=("IASO_PROBES_CACHE_DIR",)),
                  _private_var_tmp))

case("stdout-closed", L, "the probe starts with descriptor 1 closed",
     "issue 9 item 21's rule: output that cannot be written ends the probe quietly with 3",
     expect=each(UNKNOWN), prepare=_shell("exec 1>&-"))

case("stdout-opened-read-only", L, "descriptor 1 is /dev/null opened for reading (EBADF)",
     "issue 9 item 21's rule: output that cannot be written ends the probe quietly with 3",
     expect=each(UNKNOWN), prepare=_shell("exec 1</dev/null"))

case("stderr-closed", L, "the probe starts with descriptor 2 closed",
     "state policy: stdout only; nothing needs stderr, every probe is OK",
     expect=each(OK), prepare=_shell("exec 2>&-"))

case("stdout-encoding-forced-to-ascii", L,
     "PYTHONIOENCODING=ascii, LC_ALL=C, PYTHONUTF8=0; every call answers 503 with a French "
     "error text ('Dépôt « objet » indisponible — réessayez ☂')",
     "state policy: HTTP 503 is CRITICAL; issue 9 item 21's rule: output is written whatever "
     "the locale",
     expect=each(CRITICAL),
     handle=error(503, "Dépôt « objet » indisponible — réessayez ☂"),
     prepare=_env({"PYTHONIOENCODING": "ascii", "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}))

case("five-open-files-at-most", L,
     "RLIMIT_NOFILE 5: the interpreter starts, two descriptors are left for the run's "
     "files and sockets",
     "state policy: what is wrong on our side is UNKNOWN; a probe short of descriptors never "
     "blames the API (CRITICAL) nor dies; one that has enough is OK",
     expect=each(frozenset({OK, UNKNOWN})), prepare=lambda ws: ws.prlimit.append("--nofile=5:5"))

_moments = random.Random(9)
SIGNAL_DELAYS = {probe: round(_moments.uniform(1.0, 1.9), 2) for probe in PROBES}

case("sigterm-at-scattered-moments", L,
     "every answer is held 2.5 s; SIGTERM at a different moment in each probe (1.0 to 1.9 s, "
     "while the first answer is awaited)",
     "state policy: stopped by SIGTERM while waiting for the API is CRITICAL",
     expect=each(CRITICAL), handle=held(2.5),
     prepare=_signal(signal.SIGTERM, SIGNAL_DELAYS))

case("sigterm-during-start-up", L, "SIGTERM 0.08 s after exec, while modules are imported "
     "(or, on a fast machine, the first call is sent), the first answer held 2 s",
     "state policy: SIGTERM is handled like the deadline, with a status line; never an OK: "
     "the API was not asked yet (UNKNOWN) or had not answered (CRITICAL). Where exactly 0.08 s "
     "lands depends on the machine; the start-up window itself is pinned in test_runner.py",
     expect=each(frozenset({CRITICAL, UNKNOWN})), handle=held(2.0, ("life", "health", "login")),
     prepare=_signal(signal.SIGTERM, {p: 0.08 for p in PROBES}))

case("sigint-while-waiting", L, "SIGINT (Ctrl-C) 1.2 s in, while the first answer is held 2 s",
     "state policy guarantees (every state): exit code 0..3 equal to the first line, no "
     "traceback; no complete answer (CRITICAL) or interrupted (UNKNOWN)",
     expect=each(frozenset({CRITICAL, UNKNOWN})), handle=held(2.0, ("life", "health", "login")),
     prepare=_signal(signal.SIGINT, {p: 1.2 for p in PROBES}, one_sample=True))

case("sighup-while-waiting", L, "SIGHUP (the terminal went away) 1.2 s in, while the first "
     "answer is held 2 s",
     "state policy guarantees (every state): a status line and its exit code, never a silent "
     "death",
     expect=each(frozenset({CRITICAL, UNKNOWN})), handle=held(2.0, ("life", "health", "login")),
     prepare=_signal(signal.SIGHUP, {p: 1.2 for p in PROBES}, one_sample=True))

case("sigpipe-while-waiting", L, "SIGPIPE 0.6 s in, the first answer held 1 s",
     "SIGPIPE is only a write error on a closed pipe; the run goes on: every probe is OK",
     expect=each(OK), handle=held(1.0, ("life", "health", "login")),
     prepare=_signal(signal.SIGPIPE, {p: 0.6 for p in PROBES}, one_sample=True))


def _concurrent(ws: Workspace) -> None:
    _stateful(ws)
    ws.concurrency = 4


case("four-stateful-runs-at-once", L,
     "four backup and four restore runs of the same targets started together",
     "scheduling-jobs: each state file is locked, the jobs are launched once; results-log: "
     "one whole line per run; every run OK",
     expect=each(OK, JOBS), prepare=_concurrent, launches={"backup": 2, "restore": 1})

case("pythonwarnings-error", L, "PYTHONWARNINGS=error (every warning an exception)",
     "state policy: stdout only, stderr empty; a healthy API is OK",
     expect=each(OK), prepare=_env({"PYTHONWARNINGS": "error"}))

case("python-dev-mode", L, "PYTHONDEVMODE=1 (resource warnings, debug hooks)",
     "state policy: stderr stays empty; a healthy API is OK",
     expect=each(OK), prepare=_env({"PYTHONDEVMODE": "1"}))

case("proxy-variables-with-proxy-none", L,
     "HTTPS_PROXY, HTTP_PROXY and ALL_PROXY point at 127.0.0.2; the configuration says "
     "proxy: none",
     "configuration: 'none' means no proxy; nothing reaches 127.0.0.2; OK",
     expect=each(OK),
     prepare=_env({key: (lambda ws: f"http://127.0.0.2:{ws.server.canary(ws.case)}")
                   for key in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy")}))

case("ssl-cert-file-trusts-the-attacker", L,
     "SSL_CERT_FILE and SSL_CERT_DIR trust the self-signed server; tls.ca_bundle does not",
     "configuration: ca_bundle is the CA to trust; state policy: untrusted is CRITICAL",
     expect=each(CRITICAL), listener="self",
     prepare=_env({"SSL_CERT_FILE": lambda ws: str(ws.pki / "self.pem"),
                   "SSL_CERT_DIR": lambda ws: str(ws.pki)}))

case("curl-ca-bundle-trusts-the-attacker", L,
     "CURL_CA_BUNDLE trusts the self-signed server; tls.ca_bundle does not",
     "configuration: ca_bundle takes precedence over the environment; untrusted is CRITICAL",
     expect=each(CRITICAL), listener="self",
     prepare=_env({"CURL_CA_BUNDLE": lambda ws: str(ws.pki / "self.pem")}))

case("timeout-nan", L, "-t nan",
     "Monitoring Plugins guidelines and state policy: a bad option value is a usage error, "
     "UNKNOWN",
     expect=each(UNKNOWN), prepare=_argument("-t", "nan"))

case("warning-range-nan", L, "-w nan",
     "Monitoring Plugins guidelines: a range is numbers, '~', ':' and '@'; 'nan' is a usage "
     "error, UNKNOWN",
     expect=each(UNKNOWN), prepare=_argument("-w", "nan"))


def _non_utf8_path(ws: Workspace) -> None:
    import os

    ws.config_path = Path(os.fsdecode(bytes(ws.root) + b"/missing-\xff.yaml"))
    ws.config_kept = True
    ws.names = "missing-"


case("config-path-not-utf-8", L, "-C names a missing file whose name holds the byte 0xff",
     "state policy: configuration file missing is UNKNOWN naming it; output is written",
     expect=each(UNKNOWN), prepare=_non_utf8_path)


def _deleted_cwd(ws: Workspace) -> None:
    ws.shell.append(f'gone=$(mktemp -d "{ws.root}/gone.XXXXXX") && cd "$gone" && rmdir "$gone"')


case("working-directory-deleted", L, "the probe's working directory was removed",
     "nothing in the probes depends on the working directory: every probe is OK",
     expect=each(OK), prepare=_deleted_cwd)


def by_name(name: str) -> Case:
    for item in CASES:
        if item.name == name:
            return item
    raise KeyError(name)
