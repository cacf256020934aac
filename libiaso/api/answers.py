"""Reading the API's answers: the one place that turns a body into facts a probe can judge.

A body is JSON as RFC 8259 means it (no NaN, no key named twice) or it is the API's fault. Each
field is found where the profile says, checked to be of the expected kind, and every error names
the field, never its value. The readers below say what each endpoint's answer means (the life
status code, the health components, the login token, a started job, one job's status), so that
probes and the job machinery never look inside a document themselves.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ..config.profile import WHOLE, Endpoint, FieldSpec, Rule
from ..errors import (
    ApiStatusError,
    AuthenticationRejected,
    MissingField,
    NotJson,
    ServiceError,
    WrongType,
)
from ..states import State
from .conversions import (
    NUMBER_LIMIT,
    NUMBER_TEXT,
    epoch_of_iso8601,
    finite,
    number_of_text,
    seconds_of_duration,
)

ERROR_TEXT_LIMIT = 160
ABSENT = object()


class Answer(NamedTuple):
    """One successful exchange: where, how long, how big, and the JSON document."""

    endpoint: Endpoint
    url: str
    status: int
    elapsed: float
    size: int
    document: Any   # a JSON value, or the text of a text answer
    redact: Callable[[str], str] = str   # the run's masking of secrets, for the API's texts
    headers: Mapping[str, str] = {}      # the answer's headers, for fields read from them

    def field(self, name: str, kind: str, *, required: bool = True) -> Any:
        """The answer field the profile calls ``name``, read as its spec says and checked to
        be of ``kind``; errors name the configured path."""
        spec = self.endpoint.spec(name)
        if spec.source == "header":
            value = next((v for k, v in self.headers.items() if k.lower() == spec.path.lower()),
                         None)
            return field({"v": value}, "v", kind, required=required, url=self.url,
                         elapsed=self.elapsed, shown=f"header {spec.path}")
        return read(self.document, spec, kind, required=required, url=self.url,
                    elapsed=self.elapsed)

    def has(self, name: str) -> bool:
        """True if the field the profile calls ``name`` is configured and present."""
        return self.endpoint.configured(name) and locate(
            self.document, self.endpoint.field_path(name)) is not ABSENT

    def matches(self, rule: Optional[Rule]) -> bool:
        """True if the answer meets ``rule`` (a success, failure or not-visible rule)."""
        if rule is None:
            return False
        if rule.statuses and self.status not in rule.statuses:
            return False
        if rule.field is None:
            return True
        value = locate(self.document, self.endpoint.field_path(rule.field))
        if rule.present is not None and (value is not ABSENT and value is not None) \
                != rule.present:
            return False
        if rule.empty is not None and (value in (ABSENT, None, "", [], {})) != rule.empty:
            return False
        return not rule.values or (value is not ABSENT and same_value(value, rule.values))

    def reason(self) -> Optional[str]:
        """The API's own reason text, where the profile says it sits, if present."""
        if not self.endpoint.configured("reason"):
            return None
        value = locate(self.document, self.endpoint.field_path("reason"))
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
                and str(value).strip():
            return masked_and_cut(str(value), self.redact)
        return None

    def wrong(self, name: str, message: str) -> WrongType:
        """The error for field ``name`` of this answer holding an impossible value."""
        return WrongType(message, field=self.endpoint.field_path(name), url=self.url,
                         status=self.status, elapsed=self.elapsed)


# --- documents and fields ----------------------------------------------------------------------


class DuplicateKey(ValueError):
    """An object names the same key twice: which value the API meant is anyone's guess."""


def strict_json(raw: bytes) -> Any:
    """JSON as RFC 8259 means it: no NaN or Infinity, no key given twice (a BOM is allowed)."""
    return json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant,
                      object_pairs_hook=_unique_keys)


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, *, url: str, status: int, elapsed: float,
               whole: bool = False) -> Any:
    """The body as a JSON object (any JSON value when the profile reads the ``whole`` answer);
    anything else is a ``NotJson`` or ``WrongType``."""
    if not raw.strip():
        raise NotJson(f"{short_url(url)} answered HTTP {status} with an empty body", url=url,
                      status=status, elapsed=elapsed)
    try:
        document = strict_json(raw)
    except DuplicateKey as exc:
        raise NotJson(f"{short_url(url)} answered HTTP {status} with JSON that names "
                      f"{exc.args[0]!r} twice: ambiguous", url=url, status=status,
                      elapsed=elapsed) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        kind = "HTML" if raw.lstrip()[:1] == b"<" else "not valid JSON"
        raise NotJson(f"{short_url(url)} answered HTTP {status} with a body that is {kind}",
                      url=url, status=status, elapsed=elapsed) from None
    if not isinstance(document, dict) and not whole:
        raise WrongType(f"{short_url(url)} answered a JSON {type(document).__name__}, "
                        "expected an object", field="(body)", url=url, elapsed=elapsed)
    return document


def parse_text(raw: bytes, *, url: str, status: int, elapsed: float) -> str:
    """The body of a text answer, as one stripped text."""
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise NotJson(f"{short_url(url)} answered HTTP {status} with a body that is not UTF-8 "
                      "text", url=url, status=status, elapsed=elapsed) from None
    if not text:
        raise NotJson(f"{short_url(url)} answered HTTP {status} with an empty body", url=url,
                      status=status, elapsed=elapsed)
    return text


def lookup(document: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``a.b.0.c``, or ``.`` for the whole) in a JSON document, or
    ``ABSENT``."""
    return locate(document, dotted)


def locate(document: Any, dotted: str) -> Any:
    if dotted == WHOLE:
        return document
    current = document
    for part in dotted.split("."):
        if isinstance(current, dict):
            if part not in current:
                return ABSENT
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return ABSENT
    return current


_KINDS: Dict[str, Tuple[Tuple[type, ...], str]] = {
    "any": ((object,), "a value"),
    "time": ((int, float), "a time"),
    "text": ((str,), "a text"),
    "int": ((int,), "a whole number"),
    "number": ((int, float), "a number"),
    "str": ((str,), "a text"),
    "bool": ((bool,), "true or false"),
    "list": ((list,), "a list"),
    "object": ((dict,), "an object"),
    "id": ((int, str), "an identifier"),
    "components": ((list, dict), "a list or an object"),
}


def field(document: Any, dotted: str, kind: str, *, required: bool = True,
          url: Optional[str] = None, elapsed: Optional[float] = None,
          shown: Optional[str] = None) -> Any:
    """The typed value at ``dotted``; errors name the field (``shown``, if the value was
    converted from another place), never its value."""
    name = shown or dotted
    value = lookup(document, dotted)
    if value is ABSENT or (value is None and not required):
        if required:
            raise MissingField(f"the answer has no field {name!r}", field=name, url=url,
                               elapsed=elapsed)
        return None
    types, label = _KINDS[kind]
    wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
    if wrong:
        raise WrongType(f"field {name!r} should be {label}, got {json_kind(value)}",
                        field=name, url=url, elapsed=elapsed)
    if kind in ("number", "int", "time") and not finite(value):
        raise WrongType(f"field {name!r} should be a finite number within "
                        f"\u00b1{NUMBER_LIMIT:g}, got one outside", field=name, url=url,
                        elapsed=elapsed)
    return value


def read(document: Any, spec: FieldSpec, kind: str, *, required: bool = True,
         url: Optional[str] = None, elapsed: Optional[float] = None) -> Any:
    """The value a field spec points at, converted as the spec says, checked to be ``kind``.

    Conversions: the spec's word map first (the API's words to ours), then numbers and
    booleans written as text (``from: text``), times (``from: epoch``, ``epoch_ms``,
    ``iso8601``) as epoch seconds, then the scale (a 0-1 fraction to a percentage).
    """
    value = locate(document, spec.path)
    if value is ABSENT or value is None:
        return field(document, spec.path, kind, required=required, url=url, elapsed=elapsed)
    if spec.words:
        key = _word(value)
        if key is not None and key in spec.words:
            value = spec.words[key]
    try:
        value = _converted(value, spec, kind)
    except ValueError as exc:
        raise WrongType(f"field {spec.path!r} should be {exc.args[0]}, got {json_kind(value)}",
                        field=spec.path, url=url, elapsed=elapsed) from None
    if spec.scale != 1.0 and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and finite(value):
        value = value * spec.scale
    return field({"v": value}, "v", kind, required=required, url=url, elapsed=elapsed,
                 shown=spec.path)


def _word(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return None


def _converted(value: Any, spec: FieldSpec, kind: str) -> Any:
    if kind == "time":
        return _time(value, spec.source)
    if spec.source == "duration" and kind in ("number", "int"):
        if isinstance(value, str):
            return seconds_of_duration(value)
        return value
    if kind == "str" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)   # a status written as a code is a word all the same
    if spec.source != "text" or not isinstance(value, str):
        return value
    if kind in ("number", "int"):
        return number_of_text(value, kind == "int")
    if kind == "bool" and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if kind == "bool":
        raise ValueError("true or false (or its text)")
    return value


def _time(value: Any, source: str) -> float:
    """Epoch seconds from an epoch number (or its text) or an ISO 8601 text."""
    if source in ("epoch", "epoch_ms"):
        if isinstance(value, str) and NUMBER_TEXT.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value):
            raise ValueError("an epoch time")
        return float(value) / (1000.0 if source == "epoch_ms" else 1.0)
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 time")
    return epoch_of_iso8601(value)


def same_value(value: Any, allowed: Tuple[Any, ...]) -> bool:
    """True if ``value`` is one of ``allowed``, a number and its text counting as the same."""
    word = _word(value)
    return any(value == item or (word is not None and word == _word(item)) for item in allowed)


def json_kind(value: Any) -> str:
    """What a JSON value is, in words, without showing it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def error_text(raw: bytes, redact: Callable[[str], str] = str) -> Optional[str]:
    """The API's own error message in an error answer, if the body carries one in a usual place.

    Masked whole, then cut: a secret echoed across the cut must not leave its first half.
    """
    text = _error_text(raw)
    if text is None:
        return None
    masked = redact(text)
    first = next((line for line in masked.splitlines() if line.strip()), "")
    return masked_and_cut(first)


def masked_and_cut(text: str, redact: Callable[[str], str] = str) -> str:
    """An API text for a message: masked as it came (any change first could hide a secret
    from the mask: spaces squeezed, an end stripped), then on one line, then cut."""
    text = " ".join(redact(text).split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT - 3] + "..."


def _error_text(raw: bytes) -> Optional[str]:
    if not raw.strip():
        return None
    try:
        document = strict_json(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        if raw.lstrip()[:1] == b"<":
            return "HTML page"
        text = raw[:65536].decode("utf-8", "replace")
        return text if text.strip() else None   # masked whole before its first line is taken
    if isinstance(document, dict):
        for key in ("message", "error", "errorMessage", "detail", "errLogMessage"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return value
    if isinstance(document, str) and document.strip():
        return document
    return None


def short_url(url: str) -> str:
    """The URL without query string, for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- life and health ---------------------------------------------------------------------------


def verify(answer: Answer) -> None:
    """Raise a ``PayloadError`` unless ``answer`` is what its endpoint promises.

    Probes that only time an endpoint still judge its answer: an API that answers fast with
    nonsense is not answering.
    """
    endpoint = answer.endpoint
    if endpoint.role == "life" and endpoint.success and endpoint.success.field is None:
        if not answer.matches(endpoint.success):
            raise answer.wrong("status_code", f"{short_url(answer.url)} answered HTTP "
                                              f"{answer.status}, expected "
                                              f"{' or '.join(map(str, endpoint.success.statuses))}")
    elif endpoint.role == "life":
        alive = endpoint.success.values if endpoint.success else (200,)
        status_code = answer.field("status_code", _reading_kind(endpoint.spec("status_code")))
        if not same_value(status_code, alive):
            where = endpoint.field_path("status_code")
            shown = "" if where == WHOLE else f"{where} "
            expected = " or ".join(_shown_value(v) for v in alive)
            value = _shown_value(status_code)
            raise answer.wrong("status_code", f"{short_url(answer.url)} answered {shown}"
                                              f"{value}, expected {expected}")
    elif endpoint.role == "health" and not answer.field("components", "components"):
        raise answer.wrong("components", "the health answer lists no component")


def _shown_value(value: Any) -> str:
    """A value of the answer as the API wrote it: texts quoted, true/false/null in JSON words."""
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value) if isinstance(value, (bool, type(None))) else str(value)


def _reading_kind(spec: FieldSpec) -> str:
    return {"any": "id", "text": "str"}.get(spec.type, spec.type)


class Component(NamedTuple):
    """One component or consumed service of the health answer."""

    name: str
    status: str
    healthy: bool
    message: Optional[str] = None
    severity: str = "critical"   # ok, warning or critical: the profile's word for the status

    @property
    def record_section(self) -> str:
        return "components"

    def record_entry(self, state: State) -> Dict[str, Any]:
        """This component in the results log (``iaso.components[]``)."""
        return {"name": self.name, "status": self.status, "healthy": self.healthy,
                "state": state.name}


class HealthReport(NamedTuple):
    """The health answer: every component, and the overall status when the API gives one."""

    components: Tuple[Component, ...]
    overall: Optional[str]
    overall_healthy: bool
    overall_severity: str = "ok"

    @property
    def unhealthy(self) -> Tuple[Component, ...]:
        return tuple(c for c in self.components if not c.healthy)


def health_report(answer: Answer) -> HealthReport:
    """Every component of a health answer, each status mapped through the profile's
    ``states`` (a word it does not list is CRITICAL); an answer listing none is the API's
    fault."""
    verify(answer)
    raw = answer.field("components", "components")
    components = tuple(_components(answer, raw, answer.endpoint.field_path("components"), "", 0))
    overall = answer.field("overall", "str", required=False) \
        if answer.endpoint.configured("overall") else None
    severity = _severity(answer.endpoint, overall) if overall is not None else "ok"
    return HealthReport(components, overall, severity == "ok", severity)


def _severity(endpoint: Endpoint, status: str) -> str:
    states = endpoint.states
    return states.get(status) or states.get(status.strip().lower()) or "critical"


MEMBER_DEPTH = 4


def _components(answer: Answer, raw: Any, where: str, prefix: str,
                depth: int) -> Iterator[Component]:
    """The components of a list or keyed object; one with members of its own (``component_
    members``, a nested group) stands for its members, named ``group/member``."""
    entries: Iterator[Tuple[Optional[str], Any]] = (
        iter(raw.items()) if isinstance(raw, dict) else ((None, item) for item in raw))
    endpoint = answer.endpoint
    for index, (key, item) in enumerate(entries):
        members = (locate(item, endpoint.field_path("component_members"))
                   if endpoint.configured("component_members") and isinstance(item, dict)
                   else ABSENT)
        if isinstance(members, (list, dict)) and members and depth < MEMBER_DEPTH:
            name = key if key is not None else read(item, endpoint.spec("component_name"),
                                                    "str", url=answer.url)
            yield from _components(answer, members, f"{where}.{key or index}",
                                   f"{prefix}{name}/", depth + 1)
            continue
        component = _component(answer, key, item, index, where)
        yield component._replace(name=prefix + component.name) if prefix else component


def _component(answer: Answer, key: Optional[str], item: Any, index: int,
               container: str) -> Component:
    endpoint = answer.endpoint
    where = container + (f".{key}" if key else f".{index}")
    if key is not None and isinstance(item, str):
        severity = _severity(endpoint, item)
        return Component(key, item, severity == "ok", None, severity)
    if not isinstance(item, dict):
        raise WrongType(f"component {where} should be an object", field=where, url=answer.url)
    name = key if key is not None else read(item, endpoint.spec("component_name"), "str",
                                            url=answer.url)
    status = read(item, endpoint.spec("component_status"), "str", url=answer.url)
    message = read(item, endpoint.spec("component_message"), "str", required=False) \
        if endpoint.configured("component_message") else None
    severity = _severity(endpoint, status)
    return Component(name, status, severity == "ok", message, severity)


# --- login -------------------------------------------------------------------------------------


def token_of(answer: Answer, username: str) -> str:
    """The token of a login answer; a login without one, or one the profile's failure rule
    matches, is rejected with the API's own reason when it gives one."""
    reason = answer.reason()
    because = f": {reason}" if reason else ""
    if answer.matches(answer.endpoint.failure):
        raise AuthenticationRejected(f"login as {username} rejected (HTTP {answer.status}"
                                     f"{because})", url=answer.url, status=answer.status,
                                     elapsed=answer.elapsed)
    try:
        token = answer.field("token", "text")   # a number is no token: never converted
    except ServiceError:
        raise AuthenticationRejected(
            f"login as {username} answered HTTP {answer.status} without a token (field "
            f"{answer.endpoint.field_path('token')!r}){because}", url=answer.url,
            status=answer.status, elapsed=answer.elapsed) from None
    if not token.strip():
        raise AuthenticationRejected("login answered an empty token", url=answer.url,
                                     status=answer.status, elapsed=answer.elapsed)
    if not usable_in_header(token):
        raise AuthenticationRejected(
            f"login answered an unusable token (field {answer.endpoint.field_path('token')!r}: "
            f"control, non-ASCII or surrounding space characters, or over {TOKEN_LIMIT} "
            "characters): it cannot travel in a header", url=answer.url, status=answer.status,
            elapsed=answer.elapsed)
    return token


TOKEN_LIMIT = 16384


def usable_in_header(token: str) -> bool:
    """True if ``token`` can be sent as (part of) an HTTP header value, byte for byte."""
    return (0 < len(token) <= TOKEN_LIMIT and token == token.strip()
            and all(0x20 <= ord(c) < 0x7f for c in token))


def token_lifetime(answer: Answer, token: str,
                   now: Callable[[], float] = time.time) -> Optional[float]:
    """Seconds the token lives: the answer's lifetime or expiry time, else a JWT's exp, else
    None."""
    lifetime = answer.field("expires_in", "number", required=False) \
        if answer.endpoint.configured("expires_in") else None
    if lifetime is not None:
        return float(lifetime)
    if answer.endpoint.configured("expires_at"):
        expires_at = answer.field("expires_at", "time", required=False)
        if expires_at is not None:
            return float(expires_at) - now()
    return jwt_lifetime(token, now())


def jwt_lifetime(token: str, now: Optional[float] = None) -> Optional[float]:
    """Seconds until a JWT's ``exp``, read without verification; None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, RecursionError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    if not finite(exp):
        raise WrongType(f"the token's exp claim should be a finite number within "
                        f"\u00b1{NUMBER_LIMIT:g}, got one outside", field="token (JWT exp)")
    return float(exp) - (time.time() if now is None else now)


# --- jobs --------------------------------------------------------------------------------------


class JobNotVisible(ApiStatusError):
    """The API does not show a job it just gave the ID of (yet): treated as a 404.
    ``evidence`` says what showed it (the configured field of the not-visible rule)."""

    evidence = "no record"


class JobStatus(NamedTuple):
    """One snapshot of a job, as the API describes it."""

    job_id: Any
    hostname: str
    status: str
    percent: Optional[float]
    elapsed: Optional[float]
    phase: Optional[str]
    reason: Optional[str]


def started_job(answer: Answer, kind: str, hostname: str) -> Any:
    """The job ID of a launch answer; a launch that says it did not start (its ``started``
    field false, the profile's failure rule met, or no job ID and a reason) is the API's fault,
    quoting the API's own reason."""
    endpoint = answer.endpoint
    reason = answer.reason()
    refused = answer.matches(endpoint.failure) or (
        endpoint.success is not None and not answer.matches(endpoint.success))
    started = answer.field("started", "bool", required=False) \
        if endpoint.configured("started") else None
    if started is False or refused or (reason and not answer.has("job_id")):
        said = reason or (f"{endpoint.field_path('started')}: false" if started is False
                          else "not started")
        raise ApiStatusError(f"the {kind} of {hostname} did not start (the API answered "
                             f"{said})", url=answer.url, status=answer.status,
                             elapsed=answer.elapsed, api_message=reason)
    answered_host = answer.field("hostname", "str", required=False)
    if isinstance(answered_host, str) and answered_host.strip().lower() != hostname.lower():
        raise answer.wrong("hostname", f"the {kind} answer is for host {answered_host}, not "
                                       f"{hostname}: not this launch's answer")
    job_id = answer.field("job_id", "id")
    problem = job_id_problem(job_id)
    if problem:
        raise answer.wrong("job_id", f"the {kind} of {hostname} started with an unusable job ID "
                                     f"(field {answer.endpoint.field_path('job_id')!r} {problem})")
    return job_id


JOB_ID_LIMIT = 64


def job_id_problem(job_id: Any) -> Optional[str]:
    """Why a job ID may not be sent back in a request path or body (None when it may).

    A job ID goes into the status request as the API gave it, so it must be a plain token:
    a whole number, or letters, digits, '.', '_', ':' and '-' not starting with a dot (no '..',
    no '/', no control character), at most ``JOB_ID_LIMIT`` characters.
    """
    if isinstance(job_id, bool) or not isinstance(job_id, (int, str)):
        return "is not a number or a text"
    if isinstance(job_id, int):
        return None if 0 <= job_id < 2 ** 63 else "is out of range"
    if not job_id:
        return "is empty"
    if len(job_id) > JOB_ID_LIMIT:
        return f"is longer than {JOB_ID_LIMIT} characters"
    if job_id.startswith("."):
        return "starts with a dot"
    if not all(c.isascii() and (c.isalnum() or c in "._:-") for c in job_id):
        return "holds characters other than letters, digits, '.', '_', ':' and '-'"
    return None


def job_status(answer: Answer, job_id: Any, hostname: str) -> JobStatus:
    """One snapshot of job ``job_id`` of ``hostname``, checked against what was asked.

    A status for another job or another host, a percentage outside 0..100 or a missing status
    is the API's fault, never silently taken for progress. An answer the profile's
    ``not_visible`` rule matches (no record yet) is ``JobNotVisible``, like a 404.
    """
    if answer.matches(answer.endpoint.not_visible) and answer.endpoint.not_visible and \
            answer.endpoint.not_visible.field is not None:
        where = answer.endpoint.field_path(answer.endpoint.not_visible.field)
        unseen = JobNotVisible(f"job {job_id} of {hostname} is not visible yet ({where})",
                               url=answer.url, status=404, elapsed=answer.elapsed)
        unseen.evidence = f"{where}: no record yet"
        raise unseen
    answered_id = answer.field("job_id", "id", required=False)
    if answered_id is not None and str(answered_id) != str(job_id):
        raise answer.wrong("job_id", f"the status answer is for job {answered_id}, "
                                     f"not job {job_id}")
    answered_host = answer.field("hostname", "str", required=False)
    if answered_host is not None and answered_host.lower() != hostname.lower():
        raise answer.wrong("hostname", f"the status answer for job {job_id} is for host "
                                       f"{answered_host}, not {hostname}")
    status = answer.field("status", "str").strip()
    if not status:
        raise answer.wrong("status", f"job {job_id} has an empty status")
    percent = answer.field("percent", "number", required=False)
    if percent is not None and not 0 <= percent <= 100:
        raise answer.wrong("percent", f"job {job_id} is {percent} % complete, outside 0..100")
    elapsed = answer.field("elapsed", "number", required=False)
    if elapsed is not None and elapsed < 0:
        raise answer.wrong("elapsed", f"job {job_id} has a negative elapsed time {elapsed}")
    reason = (answer.field("failure_reason", "str", required=False)
              or answer.field("pending_reason", "str", required=False))
    return JobStatus(job_id=job_id, hostname=hostname, status=status,
                     percent=None if percent is None else float(percent),
                     elapsed=None if elapsed is None else float(elapsed),
                     phase=answer.field("phase", "str", required=False), reason=reason)
