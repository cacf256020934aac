"""The client of the IASO API: endpoints by role, login, and what an HTTP status means.

It sends each endpoint's request through ``Transport`` (one origin, bounded in time and size),
turns a non-2xx answer into ``ApiStatusError`` with the API's own error text (masked before it
is cut), reads the body as strict JSON, and keeps the token: a 401 on an authenticated call
triggers exactly one re-login, shared by every thread following jobs.
"""
from __future__ import annotations

import base64
import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Optional
from urllib.parse import urlencode, urljoin

from ..config.credentials import Secret
from ..config.profile import WHOLE, Endpoint, UnsafePathParameter
from ..config.settings import Environment
from ..deadline import Deadline
from ..errors import ApiStatusError, AuthenticationRejected, ConfigError, ProbeUsageError
from ..redaction import Redactor
from .answers import (
    Answer,
    error_text,
    locate,
    parse_json,
    parse_text,
    short_url,
    strict_json,
    token_lifetime,
    token_of,
)
from .transport import FormBody, Reply, StreamedReply, Transport

log = logging.getLogger("iaso.client")


class Login(NamedTuple):
    """A successful login: the token, the time it took, and the answer it came in."""

    token: Secret
    elapsed: float
    answer: Answer

    def lifetime(self) -> Optional[float]:
        """Seconds the token lives, when the API tells: read only by those who ask (a probe
        that only needs the token never fails on an expiry it cannot read)."""
        return token_lifetime(self.answer, self.token.reveal())


class Exchange(NamedTuple):
    """One request and its final answer, as the profile doctor shows them (body unmasked: the
    observer masks what it prints)."""

    endpoint: Endpoint
    method: str
    url: str
    sent: Any
    reply: Reply


class IasoClient:
    """All traffic of one probe run with one IASO environment."""

    def __init__(self, environment: Environment, deadline: Deadline,
                 redactor: Optional[Redactor] = None,
                 observer: Optional[Callable[[Exchange], None]] = None) -> None:
        self.environment = environment
        self.deadline = deadline
        self.redactor = redactor or Redactor()
        self.observer = observer
        self.logins = 0
        self._token: Optional[Secret] = None
        self._auth_lock = threading.RLock()
        self.transport = Transport(environment, deadline, self.redactor)

    # --- public calls --------------------------------------------------------------------------

    def call(self, role: str, params: Optional[Mapping[str, Any]] = None) -> Answer:
        """Send the request of endpoint ``role`` and return its checked answer."""
        endpoint = self.environment.profile.endpoint(role)
        logins_before = self._ensure_token() if endpoint.auth else 0
        try:
            return self._exchange(endpoint, params or {})
        except ApiStatusError as exc:
            if exc.status != 401 or not endpoint.auth:
                raise
            with self._auth_lock:
                if self.logins == logins_before:  # no other thread has logged in since
                    log.info("%s answered 401: logging in again once", role)
                    self.login()
            return self._exchange(endpoint, params or {})

    def _ensure_token(self) -> int:
        """Log in unless a token is held; the login count tells later 401s who re-logs in."""
        with self._auth_lock:
            if self._token is None:
                self.login()
            return self.logins

    def login(self) -> Login:
        """Log in with the configured credentials; the token is kept for later calls."""
        with self._auth_lock:
            return self._login()

    def _login(self) -> Login:
        credentials = self.environment.credentials
        if credentials is None:
            raise ConfigError("no credentials are configured for this environment",
                              path=self.environment.config_path,
                              key=f"environments.{self.environment.name}.credentials")
        warnings: list = []
        password = credentials.password(warnings)
        for warning in warnings:
            log.warning("%s", warning)
        self.redactor.add(password.reveal())
        sent = password.reveal()
        if self.environment.profile.auth.password_encoding == "base64":
            sent = base64.b64encode(sent.encode("utf-8")).decode("ascii")
            self.redactor.add(sent)
        endpoint = self.environment.profile.endpoint("login")
        params = {"username": credentials.username, "password": sent}
        try:
            answer = self._exchange(endpoint, params)
        except ApiStatusError as exc:
            if exc.status in (401, 403):
                raise AuthenticationRejected(
                    f"login as {credentials.username} rejected (HTTP {exc.status}"
                    + (f": {exc.api_message}" if exc.api_message else "") + ")",
                    url=exc.url, status=exc.status, elapsed=exc.elapsed) from None
            raise
        self.logins += 1
        offered = locate(answer.document, endpoint.field_path("token"))
        if isinstance(offered, str) and offered:
            self.redactor.add(offered)   # masked before it is judged: a refused one too
        token = token_of(answer, credentials.username)
        self._token = Secret(token)
        return Login(token=self._token, elapsed=answer.elapsed, answer=answer)

    def fair_share(self) -> float:
        """The time a call must be given for the deadline's cut to count against the API
        (``Transport.fair_share``): a call started with less tells nothing if it is cut."""
        return self.transport.fair_share()

    def has_time(self) -> bool:
        """True if the time left is the deadline's fair share at least (1 s, a quarter of the
        budget under a short -t). Laxer on purpose than ``fair_share``, by which a cut is
        judged: a call with side effects (a launch) that may well fit is tried, and one cut
        with less than its share says so (``OutOfTime``) instead of blaming the API."""
        deadline = self.transport.deadline
        return deadline.remaining() >= deadline.fair_share()

    def close(self) -> None:
        self.transport.close()

    # --- the exchange --------------------------------------------------------------------------

    def _exchange(self, endpoint: Endpoint, params: Mapping[str, Any]) -> Answer:
        env = self.environment
        url = env.base_url + self._path(endpoint, params)
        if endpoint.query:
            url += "?" + urlencode(endpoint.render_query(params))
        body = endpoint.render_body(params) if endpoint.body is not None else None
        headers = {}
        if endpoint.auth and self._token is not None:
            headers[env.profile.auth.header] = env.profile.auth.header_value(self._token.reveal())
        if endpoint.encoding == "form" and isinstance(body, dict):
            body = FormBody({key: "" if value is None else str(value)
                             for key, value in body.items()})
        reply = self.transport.exchange(endpoint.method, url, body, headers)
        if self.observer is not None:
            self.observer(Exchange(endpoint, endpoint.method, url, body, reply))
        log.info("%s %s -> %s in %.3f s, %d bytes", endpoint.method, reply.url, reply.status,
                 reply.elapsed, len(reply.body))
        if not (200 <= reply.status < 300 or reply.status in endpoint.statuses):
            raise self._status_error(endpoint, reply)
        document: Any = None
        if endpoint.answer == "none":
            pass
        elif endpoint.answer == "text":
            document = parse_text(reply.body, url=reply.url, status=reply.status,
                                  elapsed=reply.elapsed)
        else:
            whole = any(spec.path == WHOLE for spec in endpoint.fields.values())
            document = parse_json(reply.body, url=reply.url, status=reply.status,
                                  elapsed=reply.elapsed, whole=whole)
        return Answer(endpoint=endpoint, url=reply.url, status=reply.status,
                      elapsed=reply.elapsed, size=len(reply.body), document=document,
                      redact=self.redactor, headers=reply.headers)

    def _status_error(self, endpoint: Endpoint, reply: Reply) -> ApiStatusError:
        """An answer whose status is not one the endpoint reads, with the API's own reason."""
        api_message = self._reason(endpoint, reply)
        expected = "" if reply.status >= 400 else ", expected 2xx"
        reason = f"HTTP {reply.status}" + (f": {api_message}" if api_message else expected)
        return ApiStatusError(f"{short_url(reply.url)} answered {reason}",
                              api_message=api_message, url=reply.url, status=reply.status,
                              elapsed=reply.elapsed)

    # --- streamed listings ---------------------------------------------------------------------

    @contextmanager
    def streamed(self, role: str, params: Mapping[str, Any], *, limit: int,
                 query: Optional[Mapping[str, str]] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 url: Optional[str] = None) -> Iterator[StreamedReply]:
        """The 2xx answer of endpoint ``role`` with its body still on the wire, for a listing
        read item by item (``libiaso.api.listing``); at most ``limit`` bytes of it.

        ``query`` and ``headers`` add a page's parameters; ``url`` replaces the endpoint's URL
        (a next link, resolved against the base URL and held to its origin like any request).
        A query parameter whose template renders empty is not sent (a full listing has no
        ``since``). A 401 logs in again once, as ``call`` does; any other status that is not
        2xx is an ``ApiStatusError`` with the API's own reason.
        """
        endpoint = self.environment.profile.endpoint(role)
        logins_before = self._ensure_token() if endpoint.auth else 0
        for attempt in (1, 2):
            with self._streamed_once(endpoint, params, limit, query, headers, url) as reply:
                if reply.status == 401 and endpoint.auth and attempt == 1:
                    with self._auth_lock:
                        if self.logins == logins_before:
                            log.info("%s answered 401: logging in again once", role)
                            self.login()
                    continue
                if not 200 <= reply.status < 300:
                    raw = b"".join(reply.pieces)
                    final = Reply(reply.url, reply.status, raw, reply.headers, reply.elapsed())
                    raise self._status_error(endpoint, final)
                yield reply
                return

    @contextmanager
    def _streamed_once(self, endpoint: Endpoint, params: Mapping[str, Any], limit: int,
                       query: Optional[Mapping[str, str]], headers: Optional[Mapping[str, str]],
                       url: Optional[str]) -> Iterator[StreamedReply]:
        env = self.environment
        if url is None:
            url = env.base_url + self._path(endpoint, params)
            rendered = {k: v for k, v in endpoint.render_query(params).items() if v != ""}
            rendered.update(query or {})
            if rendered:
                url += "?" + urlencode(rendered)
        else:
            url = urljoin(env.base_url + "/", url)
        body = endpoint.render_body(params) if endpoint.body is not None else None
        sent = dict(headers or {})
        if endpoint.auth and self._token is not None:
            sent[env.profile.auth.header] = env.profile.auth.header_value(self._token.reveal())
        with self.transport.streamed(endpoint.method, url, body, sent, limit) as reply:
            log.info("%s %s -> %s after %.3f s (streamed)", endpoint.method, reply.url,
                     reply.status, reply.elapsed())
            yield reply

    def _path(self, endpoint: Endpoint, params: Mapping[str, Any]) -> str:
        try:
            return endpoint.render_path(params)
        except UnsafePathParameter as exc:
            raise ProbeUsageError(f"{exc.args[0]} {str(params[exc.args[0]])!r} cannot be "
                                  f"placed in the {endpoint.role} path") from None

    def _reason(self, endpoint: Endpoint, reply: Reply) -> Optional[str]:
        """The API's own error text: where the profile says it sits, else in a usual place;
        masked before it is cut."""
        if endpoint.configured("reason"):
            try:
                document = strict_json(reply.body)
            except (UnicodeDecodeError, ValueError, RecursionError):
                document = None
            if document is not None:
                reason = Answer(endpoint, reply.url, reply.status, reply.elapsed,
                                len(reply.body), document, self.redactor).reason()
                if reason:
                    return reason
        return error_text(reply.body, self.redactor)
