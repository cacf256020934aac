"""What each configured endpoint of a live API does with the profile: the examination.

Each call is sent as a probe would send it, through the same client and the same readers
(libiaso.api.answers), and recorded: what was sent (secrets masked), what came back (status,
content type, size, a bounded excerpt), and for every configured field whether it was found,
what JSON kind it is and the value it converts to. Read-only calls by default; the calls that
launch a job only when asked, on a named test host or restore test.

Every step shares the walk's -t. A step is only started with a fair share of it left (the
deadline's, or twice the slowest answer so far, at most half the budget, as the transport judges
a cut); once that is
gone the walk stops: the steps left are recorded as not examined (state UNKNOWN: nothing was
learnt of them), never as failures of the API, and no job is launched in the last moments.
"""
from __future__ import annotations

import json
import signal
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from ..api.answers import (
    ABSENT,
    Answer,
    health_report,
    job_status,
    json_kind,
    locate,
    read,
    started_job,
    verify,
)
from ..api.client import Exchange, IasoClient
from ..api.listing import Listing
from ..config.profile import WHOLE, Endpoint, FieldSpec, extra_parameters
from ..config.settings import Environment, RestoreTarget
from ..deadline import Deadline
from ..errors import IasoError, ProbeInterrupted
from ..redaction import Redactor
from ..states import State, state_for

EXCERPT = 160
VALUE_LIMIT = 60
READING_KINDS = {"text": "str"}
LISTING_PEEK = 100                                    # entries of a listing the doctor reads
LISTING_WHOLE = ("items", "total", "next", "reason")  # a listing's fields beside its entries
# Fields every good answer carries; the others appear only in some answers (a reason, a phase).
REQUIRED = {"status_code", "components", "component_name", "component_status", "token",
            "job_id", "status", "items", "name", "id"}


class FieldFinding(NamedTuple):
    """One configured field: where it was looked for, and what was there."""

    name: str
    path: str
    found: bool
    kind: str = ""
    value: str = ""
    problem: str = ""


class CallFinding(NamedTuple):
    """One endpoint: the request, its answer, its fields and what a probe would make of it."""

    role: str
    request: str
    sent: str
    answer: str
    fields: Tuple[FieldFinding, ...]
    details: Tuple[str, ...]
    state: Optional[State]
    verdict: str
    examined: bool = True     # False: not called, for lack of time (state UNKNOWN)


class Judgement(NamedTuple):
    """What the readers made of one answer."""

    verdict: str
    details: Tuple[str, ...] = ()
    state: State = State.OK


class Verdict(NamedTuple):
    """What a probe would report, as far as the calls tried can tell."""

    probe: str
    state: Optional[State]
    reason: str


class Examination(NamedTuple):
    environment: str
    base_url: str
    profile: str
    calls: Tuple[CallFinding, ...]
    verdicts: Tuple[Verdict, ...]
    stopped: str = ""          # why the walk stopped before its end, if it did


class Examiner:
    """Walks the endpoints of one environment with one client, recording what happened."""

    def __init__(self, environment: Environment, timeout: float,
                 clock: Callable[[], float] = time.time,
                 deadline: Optional[Deadline] = None) -> None:
        self.environment = environment
        self.redactor = Redactor()
        self.exchanges: List[Exchange] = []
        self.deadline = Deadline(timeout) if deadline is None else deadline
        self.client = IasoClient(environment, self.deadline, self.redactor,
                                 observer=self.exchanges.append)
        self.clock = clock
        self.calls: List[CallFinding] = []
        self.stopped = ""       # why the walk stopped early: the steps left are not examined
        self.short = ""         # the same in a few words, for each step not examined

    def close(self) -> None:
        self.client.close()

    # --- the walk ------------------------------------------------------------------------------

    def examine(self, *, job_id: Optional[str], job_host: Optional[str],
                launch_host: Optional[str], level: str,
                restore: Optional[Tuple[str, RestoreTarget]]) -> Examination:
        """The walk, within the doctor's -t: a call still running at the deadline (or at
        SIGTERM) ends as the probes' calls do; a step without a fair share of the time left is
        not started, and neither is any step after it (``stopped`` says why)."""
        self.deadline.arm()
        try:
            return self._walk(job_id, job_host, launch_host, level, restore)
        finally:
            self.deadline.disarm()

    def _walk(self, job_id: Optional[str], job_host: Optional[str],
              launch_host: Optional[str], level: str,
              restore: Optional[Tuple[str, RestoreTarget]]) -> Examination:
        profile = self.environment.profile
        life = self._call("life", {}, _alive)
        health = self._call("health", {}, self._health)
        auth = self._step("login", self._login)
        listing = (self._step("vm_list", self._listing) if "vm_list" in profile.endpoints
                   else None)
        status = None
        if job_id:
            status = self._call("job_status", {"job_id": job_id, "hostname": job_host or ""},
                                lambda a: self._status(a, job_id, job_host or ""))
        else:
            self._skip("job_status", "read-only walk: give --job-id ID (and --job-host HOST) "
                                     "to read a job's status")
        listed = None
        host = launch_host or job_host
        if "job_list" in profile.endpoints and host:
            params = self._target_params(host, "job_list")
            listed = (self._call("job_list", {
                **(params or {}), "hostname": host, "kind": "backup", "job_type": "Backup",
                "since": int(self.clock() - self.environment.jobs.backup_interval),
                "window": int(self.environment.jobs.backup_interval)}, self._jobs_listed)
                if params is not None else None)
        elif "job_list" in profile.endpoints:
            self._skip("job_list", "give --job-host HOST (or --launch --host HOST) to read a "
                                   "host's recent backups")
        backup = restore_call = None
        if launch_host:
            params = self._target_params(launch_host, "backup")
            backup = (self._launch("backup", {**(params or {}), "hostname": launch_host,
                                              "level": level}, launch_host)
                      if params is not None else None)
        else:
            self._skip("backup", "not launched: give --launch --host HOST to start a backup of "
                                 "a test host")
        if restore:
            name, target = restore
            restore_call = self._launch("restore", {
                "hostname": target.hostname, "file_name": target.file_name,
                "source_path": target.source_path, "destination": target.destination,
                **target.params}, target.hostname, label=name)
        else:
            self._skip("restore", "not launched: give --launch --restore NAME to restore a "
                                  "test file")
        self.deadline.disarm()   # every call is made: the report is not to be cut
        verdicts = (
            _verdict("check_iaso_life", life),
            _verdict("check_iaso_health", health),
            _verdict("check_iaso_response_time", life),
            _verdict("check_iaso_auth", auth),
            _verdict("check_iaso_backup", backup, "not tried (--launch --host HOST)"),
            _verdict("check_iaso_restore", restore_call, "not tried (--launch --restore NAME)"),
        ) + ((_verdict("fleet listing", listing),) if listing is not None else ()) + (
            (_verdict("job listing", listed),) if listed is not None else ()) + (
            (_verdict("job status", status),) if status is not None else ())
        return Examination(self.environment.name, self.environment.base_url,
                           f"version {profile.version}, base {profile.base}",
                           tuple(self.calls), verdicts, self.stopped)

    # --- the time each step is given -----------------------------------------------------------

    def _out_of_time(self) -> bool:
        """True once the walk must stop: a stop signal came, or the time left is less than a
        fair share for one more call (``stopped`` then says which)."""
        if self.stopped:
            return True
        if self.deadline.stopped_by:
            self.short = f"stopped by {signal.Signals(self.deadline.stopped_by).name}"
            self.stopped = f"{self.short} after {self.deadline.elapsed():.1f} s"
            return True
        left, share = self.deadline.remaining(), self.client.fair_share()
        if left < share:
            self.short = f"out of time (-t {self.deadline.timeout:g})"
            self.stopped = (f"out of time: {left:.2f} s of the walk's -t "
                            f"{self.deadline.timeout:g} left, a call needs {share:.2f} s "
                            "(give a longer -t)")
            return True
        return False

    def _step(self, role: str, examine: Callable[[], CallFinding]) -> CallFinding:
        """One call of the walk, if there is time for it; else recorded as not examined."""
        if self._out_of_time():
            return self._not_examined(role)
        try:
            finding = examine()
        except ProbeInterrupted as exc:   # landed outside the call itself
            self.short = self.short or exc.message
            self.stopped = self.stopped or exc.message
            return self._not_examined(role)
        self.calls.append(finding)
        return finding

    def _not_examined(self, role: str) -> CallFinding:
        finding = CallFinding(role, "", "", "", (), (), State.UNKNOWN,
                              f"not examined: {self.short}", examined=False)
        self.calls.append(finding)
        return finding

    def _call(self, role: str, params: Dict[str, Any],
              judge: Callable[[Answer], Judgement]) -> Optional[CallFinding]:
        profile = self.environment.profile
        if role not in profile.endpoints:
            self._skip(role, "not in the profile")
            return None
        return self._step(role, lambda: self._called(role, params, judge))

    def _called(self, role: str, params: Dict[str, Any],
                judge: Callable[[Answer], Judgement]) -> CallFinding:
        endpoint = self.environment.profile.endpoint(role)
        before = len(self.exchanges)
        details: Tuple[str, ...] = ()
        answer: Optional[Answer] = None
        try:
            answer = self.client.call(role, params)
            judgement = judge(answer)
            state, verdict, details = judgement.state, judgement.verdict, judgement.details
        except ProbeInterrupted:
            raise
        except IasoError as exc:
            state, verdict = state_for(exc), exc.message
        return self._finding(endpoint, self.exchanges[before:], answer, details, state, verdict)

    def _login(self) -> CallFinding:
        before = len(self.exchanges)
        endpoint = self.environment.profile.endpoint("login")
        try:
            login = self.client.login()
            seconds = login.lifetime()
            lifetime = ("unknown (no expiry field, not a JWT)" if seconds is None
                        else f"{seconds:.0f} s")
            return self._finding(endpoint, self.exchanges[before:], login.answer,
                                 (f"token: found (masked), lifetime {lifetime}",), State.OK,
                                 "login accepted")
        except ProbeInterrupted:
            raise
        except IasoError as exc:
            return self._finding(endpoint, self.exchanges[before:], None, (),
                                 state_for(exc), exc.message)

    def _launch(self, role: str, params: Dict[str, Any], hostname: str,
                label: Optional[str] = None) -> Optional[CallFinding]:
        """A call that starts a job, then one status read of it: never sent without a fair
        share of the time left (``_step``), so that its answer can be read."""
        launched: List[Any] = []

        def judge(answer: Answer) -> Judgement:
            job = started_job(answer, role, hostname)
            launched.append(job)
            return Judgement(f"started job {job}" + (f" ({label})" if label else ""))

        finding = self._call(role, params, judge)
        if launched and "job_status" in self.environment.profile.endpoints:
            self._call("job_status", {"job_id": launched[0], "hostname": hostname},
                       lambda a: self._status(a, launched[0], hostname))
        return finding

    def _skip(self, role: str, why: str) -> None:
        self.calls.append(CallFinding(role, "", "", "", (), (), None, why))

    # --- judging what came back ----------------------------------------------------------------

    def _target_params(self, host: str, role: str) -> Optional[Dict[str, Any]]:
        """What the call of ``role`` needs beyond the host, from a configured backup target of
        that host; None (and a skip said) when the profile needs params no target gives."""
        needed = extra_parameters(self.environment.profile.endpoint(role))
        if not needed:
            return {}
        for members in self.environment.backup_sets.values():
            for target in members:
                if target.hostname.lower() == host.lower() and all(
                        p in target.params for p in needed):
                    return dict(target.params)
        self._skip(role, f"needs {', '.join(needed)} for {host}: no configured backup target "
                         "of that host gives them (params:)")
        return None

    def _jobs_listed(self, answer: Answer) -> Judgement:
        items = answer.field("items", "list")
        return Judgement(f"listing readable: {len(items)} recent backup(s) of the host")

    def _health(self, answer: Answer) -> Judgement:
        report = health_report(answer)
        severity = dict(self.environment.health_severity)
        states = []
        worst = State.OK
        for component in report.components:
            state = State[component.severity.upper()]
            if state is State.CRITICAL and severity.get(component.name) == "warning":
                state = State.WARNING
            worst = max(worst, state)
            states.append(f"{component.name} {component.status}->{state.name}")
        lines = [f"components: {', '.join(states)}"]
        bad = [c.name for c in report.components if not c.healthy]
        verdict = (f"all {len(report.components)} components healthy" if not bad else
                   f"{len(bad)} of {len(report.components)} components unhealthy: "
                   f"{', '.join(self._shown(b) for b in bad)}")
        return Judgement(verdict, tuple(lines), worst)

    def _status(self, answer: Answer, job_id: Any, hostname: str) -> Judgement:
        snapshot = job_status(answer, job_id, hostname)
        percent = "" if snapshot.percent is None else f" at {snapshot.percent:g} %"
        return Judgement(f"job {job_id}: {snapshot.status}{percent}")

    def _listing(self) -> CallFinding:
        """The first page of the VM listing, requested and read as the fleet check reads it
        (streamed, its paging parameters sent), the first entry's fields shown."""
        endpoint = self.environment.profile.endpoint("vm_list")
        params = {"since": ""} if "since" in endpoint.parameters() else {}
        paging = endpoint.paging
        wanted = min(paging.size, LISTING_PEEK) if paging.style != "none" else LISTING_PEEK
        listing = Listing(self.client.streamed, endpoint, params)
        first: Any = ABSENT
        count = 0
        request = (f"{endpoint.method} {endpoint.path} (token), paged: {paging.style}"
                   if endpoint.auth else f"{endpoint.method} {endpoint.path}")
        try:
            for entry in listing.entries():
                first = entry.item if first is ABSENT else first
                count += 1
                if count >= wanted:
                    break
        except ProbeInterrupted:
            raise
        except IasoError as exc:
            finding = CallFinding("vm_list", request, "", f"after {listing.progress.shown()}",
                                  (), (), state_for(exc), self._shown(exc.message))
        else:
            total = listing.progress.total
            fields = tuple(self._field(name, spec, first, True)
                           for name, spec in endpoint.fields.items()
                           if name not in LISTING_WHOLE)
            finding = CallFinding(
                "vm_list", self._shown(request), "",
                f"{count} entries read from {self._shown(listing.url) or 'the listing'}"
                + (f", total announced {total}" if total is not None else ""), fields, (),
                State.OK, f"listing readable: {count} entries read"
                + (f" of {total}" if total is not None else ""))
        return finding

    def _finding(self, endpoint: Endpoint, exchanges: List[Exchange], answer: Optional[Answer],
                 details: Tuple[str, ...], state: Optional[State], verdict: str) -> CallFinding:
        exchange = next((e for e in reversed(exchanges) if e.endpoint.role == endpoint.role),
                        None)
        request = f"{endpoint.method} {endpoint.path}" + (" (token)" if endpoint.auth else "")
        sent = answer_text = ""
        if exchange is not None:
            request = f"{exchange.method} {self.redactor(exchange.url)}" + (
                " (token)" if endpoint.auth else "")
            sent = "" if exchange.sent is None else self._excerpt(
                json.dumps(exchange.sent, ensure_ascii=False))
            reply = exchange.reply
            content_type = reply.headers.get("Content-Type", "no content type")
            answer_text = (f"HTTP {reply.status} {content_type} {len(reply.body)} bytes in "
                           f"{reply.elapsed:.3f} s: "
                           f"{self._excerpt(reply.body.decode('utf-8', 'replace')) or '(empty)'}")
        elif state is not None:
            answer_text = "no answer"
        fields = tuple(self._fields(endpoint, answer)) if answer is not None else ()
        return CallFinding(endpoint.role, request, sent, answer_text, fields,
                           tuple(self._shown(d) for d in details), state, self._shown(verdict))

    def _fields(self, endpoint: Endpoint, answer: Answer) -> List[FieldFinding]:
        findings = []
        key, first_item = self._first_item(endpoint, answer)
        for name, spec in endpoint.fields.items():
            relative = name.startswith("component_") or (
                endpoint.role in ("vm_list", "job_list") and name not in LISTING_WHOLE)
            if name == "component_name" and key is not None:
                findings.append(FieldFinding(name, "the key of each component", True, "a key",
                                             self._shown(json.dumps(key), VALUE_LIMIT)))
                continue
            document = first_item if relative else answer.document
            findings.append(self._field(name, spec, document, relative))
        return findings

    def _first_item(self, endpoint: Endpoint, answer: Answer) -> Tuple[Optional[str], Any]:
        """The first entry of the answer's list (or keyed object) and its key, if keyed."""
        container = "components" if endpoint.role == "health" else "items"
        if not endpoint.configured(container):
            return None, ABSENT
        found = locate(answer.document, endpoint.field_path(container))
        if isinstance(found, list) and found:
            return None, found[0]
        if isinstance(found, dict) and found:
            key, item = next(iter(found.items()))
            return str(key), item
        return None, ABSENT

    def _field(self, name: str, spec: FieldSpec, document: Any, relative: bool
               ) -> FieldFinding:
        where = f"{spec.path} (in the first item)" if relative else spec.path
        if document is ABSENT:
            return FieldFinding(name, where, False, problem="not checked: the list is empty")
        raw = locate(document, spec.path)
        if raw is ABSENT:
            return FieldFinding(name, where, False, problem="" if name in REQUIRED else
                                "optional, in some answers only")
        kind = "the whole answer" if spec.path == WHOLE else json_kind(raw)
        if name == "token":
            return FieldFinding(name, where, True, kind, "*** (masked)")
        try:
            value = read(document, spec, READING_KINDS.get(spec.type, spec.type), required=False)
        except IasoError as exc:
            return FieldFinding(name, where, True, kind, problem=exc.message)
        if isinstance(value, float):
            value = round(value, 6)
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, (list, dict)) \
            else f"{json_kind(value)} of {len(value)}"
        if spec.type == "time" and isinstance(value, (int, float)):
            shown += time.strftime(" (%Y-%m-%dT%H:%M:%SZ)", time.gmtime(value))
        return FieldFinding(name, where, True, kind, self._shown(shown, VALUE_LIMIT))

    def _excerpt(self, text: str) -> str:
        return self._shown(text, EXCERPT)

    def _shown(self, text: str, limit: int = 300) -> str:
        text = " ".join("".join(c if c.isprintable() else " " for c in self.redactor(text))
                        .split())
        return text if len(text) <= limit else text[: limit - 3] + "..."


def _alive(answer: Answer) -> Judgement:
    verify(answer)
    return Judgement(f"alive (HTTP {answer.status})")


def _verdict(probe: str, call: Optional[CallFinding], untried: str = "not tried") -> Verdict:
    if call is None or call.state is None:
        return Verdict(probe, None, untried if call is None else call.verdict)
    return Verdict(probe, call.state, call.verdict)
