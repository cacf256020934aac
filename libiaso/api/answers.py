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
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ..config.profile import Endpoint
from ..errors import (
    ApiStatusError,
    AuthenticationRejected,
    MissingField,
    NotJson,
    ServiceError,
    WrongType,
)
from ..states import State

ERROR_TEXT_LIMIT = 160
ABSENT = object()


class Answer(NamedTuple):
    """One successful exchange: where, how long, how big, and the JSON document."""

    endpoint: Endpoint
    url: str
    status: int
    elapsed: float
    size: int
    document: Dict[str, Any]

    def field(self, name: str, kind: str, *, required: bool = True) -> Any:
        """The answer field the profile calls ``name``, checked to be of ``kind``."""
        return field(self.document, self.endpoint.field_path(name), kind, required=required,
                     url=self.url, elapsed=self.elapsed)

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


def parse_json(raw: bytes, *, url: str, status: int, elapsed: float) -> Dict[str, Any]:
    """The body as a JSON object; anything else is a ``NotJson`` or ``WrongType``."""
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
    if not isinstance(document, dict):
        raise WrongType(f"{short_url(url)} answered a JSON {type(document).__name__}, "
                        "expected an object", field="(body)", url=url, elapsed=elapsed)
    return document


def lookup(document: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``a.b.0.c``) in a JSON document, or ``ABSENT``."""
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
          url: Optional[str] = None, elapsed: Optional[float] = None) -> Any:
    """The typed value at ``dotted``; errors name the field, never its value."""
    value = lookup(document, dotted)
    if value is ABSENT or (value is None and not required):
        if required:
            raise MissingField(f"the answer has no field {dotted!r}", field=dotted, url=url,
                               elapsed=elapsed)
        return None
    types, label = _KINDS[kind]
    wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
    if not wrong and kind in ("number", "int") and value != value:
        wrong = True
    if wrong:
        raise WrongType(f"field {dotted!r} should be {label}, got {json_kind(value)}",
                        field=dotted, url=url, elapsed=elapsed)
    return value


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


def error_text(raw: bytes) -> Optional[str]:
    """The API's own error message in an error answer, if the body carries one in a usual place."""
    if not raw.strip():
        return None
    try:
        document = strict_json(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        if raw.lstrip()[:1] == b"<":
            return "HTML page"
        text = raw.decode("utf-8", "replace").strip().splitlines()[0]
        return text[:ERROR_TEXT_LIMIT]
    if isinstance(document, dict):
        for key in ("message", "error", "errorMessage", "detail", "errLogMessage"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:ERROR_TEXT_LIMIT]
    if isinstance(document, str) and document.strip():
        return document.strip()[:ERROR_TEXT_LIMIT]
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
    role = answer.endpoint.role
    if role == "life":
        status_code = answer.field("status_code", "int")
        if status_code != 200:
            raise answer.wrong("status_code", f"{answer.url} answered "
                                              f"{answer.endpoint.field_path('status_code')} "
                                              f"{status_code}, expected 200")
    elif role == "health" and not answer.field("components", "components"):
        raise answer.wrong("components", "the health answer lists no component")


class Component(NamedTuple):
    """One component or consumed service of the health answer."""

    name: str
    status: str
    healthy: bool
    message: Optional[str] = None

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

    @property
    def unhealthy(self) -> Tuple[Component, ...]:
        return tuple(c for c in self.components if not c.healthy)


def health_report(answer: Answer, healthy_values: Tuple[str, ...]) -> HealthReport:
    """Every component of a health answer; an answer listing none is the API's fault."""
    verify(answer)
    raw = answer.field("components", "components")
    entries: Iterator[Tuple[Optional[str], Any]] = (
        iter(raw.items()) if isinstance(raw, dict) else ((None, item) for item in raw))
    components = tuple(_component(answer, key, item, index, healthy_values)
                       for index, (key, item) in enumerate(entries))
    overall = answer.field("overall", "str", required=False)
    return HealthReport(components, overall, overall is None or overall in healthy_values)


def _component(answer: Answer, key: Optional[str], item: Any, index: int,
               healthy_values: Tuple[str, ...]) -> Component:
    endpoint = answer.endpoint
    where = endpoint.field_path("components") + (f".{key}" if key else f".{index}")
    if key is not None and isinstance(item, str):
        return Component(key, item, item in healthy_values)
    if not isinstance(item, dict):
        raise WrongType(f"component {where} should be an object", field=where, url=answer.url)
    name = key if key is not None else field(item, endpoint.field_path("component_name"),
                                             "str", url=answer.url)
    status = field(item, endpoint.field_path("component_status"), "str", url=answer.url)
    message = field(item, endpoint.field_path("component_message"), "str", required=False)
    return Component(name, status, status in healthy_values, message)


# --- login -------------------------------------------------------------------------------------


def token_of(answer: Answer) -> str:
    """The token of a login answer; a login without one is rejected."""
    try:
        token = answer.field("token", "str")
    except ServiceError:
        raise AuthenticationRejected(
            f"login answered HTTP {answer.status} without a token (field "
            f"{answer.endpoint.field_path('token')!r})", url=answer.url, status=answer.status,
            elapsed=answer.elapsed) from None
    if not token.strip():
        raise AuthenticationRejected("login answered an empty token", url=answer.url,
                                     status=answer.status, elapsed=answer.elapsed)
    return token


def token_lifetime(answer: Answer, token: str,
                   now: Callable[[], float] = time.time) -> Optional[float]:
    """Seconds the token lives: the answer's expiry field, else a JWT's exp, else None."""
    lifetime = answer.field("expires_in", "number", required=False)
    if lifetime is not None:
        return float(lifetime)
    return jwt_lifetime(token, now())


def jwt_lifetime(token: str, now: Optional[float] = None) -> Optional[float]:
    """Seconds until a JWT's ``exp``, read without verification; None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp) - (time.time() if now is None else now)


# --- jobs --------------------------------------------------------------------------------------


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
    """The job ID of a launch answer; a launch that says it did not start is the API's fault."""
    started = answer.field("started", "bool", required=False)
    if started is False:
        raise ApiStatusError(f"the {kind} of {hostname} did not start (the API answered "
                             f"{answer.endpoint.field_path('started')}: false)", url=answer.url,
                             status=answer.status, elapsed=answer.elapsed)
    job_id = answer.field("job_id", "id")
    if isinstance(job_id, str) and not job_id.strip():
        raise answer.wrong("job_id", f"the {kind} of {hostname} started with an empty job ID")
    return job_id


def job_status(answer: Answer, job_id: Any, hostname: str) -> JobStatus:
    """One snapshot of job ``job_id`` of ``hostname``, checked against what was asked.

    A status for another job or another host, a percentage outside 0..100 or a missing status
    is the API's fault, never silently taken for progress.
    """
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
