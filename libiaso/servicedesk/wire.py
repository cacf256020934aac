"""HTTP between the bridge and the one service it talks to in a run (the desk's REST API, or
Icinga 2's API on the way back), and reading what comes back.

Both carry a secret (the desk's token, the API user's password), so both are held to the same
rules: the configured origin only (compared as the HTTP library will connect), no redirect
followed, certificates verified, interim 1xx answers skipped, answers bounded in size and read
piece by piece within the run's own end, every failure one error of the caller's class with a
reason read from the exception chain, and every message masked. ``Json`` reads an answer
without trusting its shape: a field of the wrong type is an error naming the field, never a
traceback.
"""
from __future__ import annotations

import http.client
import json
import math
import os
import stat
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional

import requests
import urllib3

from ..api.transport import (
    causes,
    connect_reason,
    final_answer_adapter,
    prepared_origin,
    tls_reason,
)
from ..deadline import DeadlineReached
from ..errors import IasoError
from ..redaction import Redactor
from .single_line import one_line

ANSWER_LIMIT = 4 * 1024 * 1024
PIECE = 64 * 1024
CONNECT_LIMIT = 3.0
LAST_MOMENT = 0.05       # less time than this left: no exchange is started

Failure = Callable[[str], IasoError]
# Every way sending a request or reading its answer fails, whichever layer raises it (requests,
# urllib3 when the body is read piece by piece, http.client, the socket).
WIRE_FAILURES = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                 http.client.HTTPException, OSError, ValueError)


class Reply(NamedTuple):
    status: int
    body: bytes
    headers: Mapping[str, str]


class Wire:
    """Every exchange of one run with the service at ``url``; ``failure`` makes the caller's
    error (the desk's, the core's) from a message already masked."""

    def __init__(self, url: str, *, failure: Failure, timeout: float,
                 until: Optional[float] = None, ca_bundle: Optional[str] = None,
                 session: Optional[requests.Session] = None) -> None:
        self.url = url.rstrip("/")
        self.failure = failure
        self.timeout = timeout
        self.until = until                 # the run's own end (monotonic); None: no end
        self.ca_bundle = ca_bundle
        self.redactor = Redactor()
        self.origin = prepared_origin(self.url)
        self.session = session or requests.Session()
        self.session.trust_env = False     # no proxy, netrc or CA bundle from the environment
        adapter = final_answer_adapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def secret(self, value: str) -> str:
        """Register ``value`` for masking in every message; returns it."""
        self.redactor.add(value)
        return value

    def fail(self, message: str) -> IasoError:
        return self.failure(self.redactor(message))

    def remaining(self) -> float:
        if self.until is None:
            return self.timeout
        return min(self.timeout, self.until - time.monotonic())

    def exchange(self, method: str, path: str, *, params: Optional[Dict[str, str]] = None,
                 body: Any = None, headers: Optional[Dict[str, str]] = None) -> Reply:
        """One request to ``url``/``path``; the final answer, never a redirect."""
        if self.origin is None:
            raise self.fail(f"{self.url} is not a URL the HTTP library can use")
        timeout = self.remaining()
        if timeout <= LAST_MOMENT:
            raise self.fail(f"no time left in this run to call {self.url}")
        try:
            prepared = self.session.prepare_request(requests.Request(
                method, f"{self.url}/{path}", params=params, json=body, headers=headers))
        except (ValueError, requests.exceptions.RequestException):
            raise self.fail(f"a request to {self.url} cannot be written") from None
        if prepared_origin(prepared.url or "") != self.origin:
            raise self.fail(f"refused to send a request outside {self.url}")
        verify = self._verify()
        opened: List[requests.Response] = []
        try:
            response = self.session.send(prepared, timeout=(min(CONNECT_LIMIT, timeout),
                                                            timeout),
                                         allow_redirects=False, stream=True, verify=verify)
            opened.append(response)
            data = self._read(response)
        except DeadlineReached as exc:
            raise self.fail(f"no complete answer from {self.url}: {exc.message}") from None
        except IasoError:
            raise
        except WIRE_FAILURES as exc:   # classed from their causes, not their wording
            raise self.fail(self._reason(exc, timeout, bool(opened))) from None
        finally:
            for item in opened:
                item.close()
        status = response.status_code
        if 300 <= status < 400:
            raise self.fail(f"{self.url} redirected (HTTP {status}); not followed: check the "
                            f"configured URL")
        return Reply(status, data, response.headers)

    def _verify(self) -> Any:
        """The CA bundle, checked to be a file or a directory before OpenSSL opens it (a FIFO
        named by mistake would hang the handshake)."""
        if not self.url.startswith("https:"):
            return True
        if not self.ca_bundle:
            return True
        try:
            mode = os.stat(self.ca_bundle).st_mode
        except OSError as exc:
            raise self.fail(f"CA bundle {self.ca_bundle}: {exc.strerror}") from None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise self.fail(f"CA bundle {self.ca_bundle} is not a regular file")
        return self.ca_bundle

    def _read(self, response: requests.Response) -> bytes:
        """The body, within ANSWER_LIMIT and the run's end, checked between pieces; each piece
        is what one read of the socket gave, so a body dripped a byte at a time still meets
        the check."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > ANSWER_LIMIT:
            raise self.fail(f"{self.url}: answer larger than {ANSWER_LIMIT} bytes; not read")
        raw = response.raw
        read = getattr(raw, "read1", None) or raw.read
        chunks: List[bytes] = []
        size = 0
        while True:
            if self.until is not None and time.monotonic() >= self.until:
                raise self.fail(f"no complete answer from {self.url} by this run's deadline")
            piece = read(PIECE, decode_content=True)
            if not piece:
                return b"".join(chunks)
            size += len(piece)
            if size > ANSWER_LIMIT:
                raise self.fail(f"{self.url}: answer larger than {ANSWER_LIMIT} bytes; not "
                                f"read further")
            chunks.append(piece)

    def _reason(self, exc: BaseException, timeout: float, answered: bool) -> str:
        names = {type(cause).__name__ for cause in causes(exc)}
        if names & {"SSLError", "SSLCertVerificationError", "CertificateError"}:
            return f"{self.url}: TLS failure: {tls_reason(exc)}"
        if names & {"ConnectTimeout", "ReadTimeout", "ReadTimeoutError", "ConnectTimeoutError",
                    "timeout", "TimeoutError"}:
            return f"{self.url} did not answer within {timeout:g} s"
        if answered:
            return f"{self.url}: the answer was cut short or badly encoded"
        if names & {"InvalidHeader", "LineTooLong", "BadStatusLine", "HeaderParsingError"}:
            return f"{self.url} answered something that is not HTTP"
        return f"{self.url} cannot be reached ({connect_reason(exc)})"

    def json(self, reply: Reply, what: str) -> Json:
        """The answer's JSON document, ``what`` naming it in messages."""
        value = parse_json(reply.body)
        if value is NOT_JSON:
            raise self.fail(f"{self.url}: {what}: the answer is not JSON (HTTP {reply.status})")
        return Json(value, "", lambda message: self.fail(f"{self.url}: {what}: {message}"))

    def message(self, reply: Reply) -> str:
        """The service's own words in an error answer, masked, on one line, bounded."""
        value = parse_json(reply.body)
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            text = value["message"]
        elif isinstance(value, dict) and isinstance(value.get("status"), str):
            text = value["status"]
        else:
            text = reply.body[:400].decode("utf-8", "replace")
        return one_line(self.redactor(text))[:200]


NOT_JSON = object()


def parse_json(data: bytes) -> Any:
    """The JSON value in ``data`` (None for an empty body), or NOT_JSON; never an exception,
    whatever the bytes (nesting deep enough to exhaust the parser's stack included)."""
    if not data.strip():
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_JSON


class Json:
    """One value of an answer and where it sits in it (``items[2].CustomFields[0].values``;
    '' for the whole answer). Reading it in a shape it does not have raises the wire's error
    naming that place."""

    def __init__(self, value: Any, where: str, fail: Failure) -> None:
        self.value = value
        self.where = where
        self._fail = fail

    def error(self, expected: str) -> IasoError:
        return self._fail(f"unusable answer: {self.where or 'the answer'} is "
                          f"{_described(self.value)}, expected {expected}")

    @property
    def null(self) -> bool:
        return self.value is None

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def get(self, key: str) -> Json:
        """The member ``key`` of an object (null when absent)."""
        if not isinstance(self.value, dict):
            raise self.error("an object")
        where = f"{self.where}.{key}" if self.where else key
        return Json(self.value.get(key), where, self._fail)

    def items(self, *, optional: bool = False) -> List[Json]:
        """The elements of an array (none for null, when ``optional``)."""
        if optional and self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.error("an array")
        return [Json(v, f"{self.where}[{i}]", self._fail) for i, v in enumerate(self.value)]

    def text(self, *, optional: bool = False) -> str:
        """A string, or a whole number as its digits ('' for null, when ``optional``)."""
        if optional and self.value is None:
            return ""
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            return str(self.value)
        raise self.error("a text")

    def whole(self) -> int:
        """A whole number, or a string of digits."""
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
            return int(value)
        raise self.error("a whole number")

    def number(self, *, optional: bool = False) -> float:
        """A finite number, or a string holding one (0 for null, when ``optional``)."""
        value = self.value
        if optional and value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error("a number")
        try:
            number = float(value) if not isinstance(value, str) or len(value) < 40 else math.nan
        except (ValueError, OverflowError):
            number = math.nan
        if not math.isfinite(number):
            raise self.error("a finite number")
        return number


def _described(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a text"
    return "a number"
