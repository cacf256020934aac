"""The HTTP client of the IASO API: one session a run, bounded in time and size.

Every request carries explicit connect and read timeouts capped by the probe's deadline, reads
its body up to a size bound, follows redirects only within the same origin (so a token or a
password never reaches another host), and turns every failure into one ``libiaso.errors`` class
with the URL, status and elapsed time attached. A 401 on an authenticated call triggers exactly
one re-login.
"""
from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urljoin, urlsplit

from .. import __version__
from ..config.credentials import Secret
from ..config.profile import Endpoint
from ..config.settings import NO_PROXY, PROXY_FROM_ENVIRONMENT, Environment
from ..deadline import Deadline
from ..errors import (
    ApiStatusError,
    ApiTimeout,
    AuthenticationRejected,
    BodyTooLarge,
    ConfigError,
    ConnectError,
    ProbeInterrupted,
    RedirectRefused,
    ServiceError,
    TlsError,
    TransportError,
)
from ..redaction import Redactor
from .answers import Answer, error_text, parse_json, short_url, token_lifetime, token_of

if TYPE_CHECKING:
    import requests

log = logging.getLogger("iaso.client")

MAX_REDIRECTS = 5
ERROR_TEXT_LIMIT = 160
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class Login(NamedTuple):
    """A successful login: the token and, when the API tells, its remaining lifetime."""

    token: Secret
    lifetime: Optional[float]
    elapsed: float
    answer: Answer


class IasoClient:
    """All traffic of one probe run with one IASO environment."""

    def __init__(self, environment: Environment, deadline: Deadline,
                 redactor: Optional[Redactor] = None) -> None:
        self.environment = environment
        self.deadline = deadline
        self.redactor = redactor or Redactor()
        self.logins = 0
        self._token: Optional[Secret] = None
        self._session: Optional[requests.Session] = None
        self._auth_lock = threading.RLock()

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
        token = token_of(answer)
        self.redactor.add(token)
        self._token = Secret(token)
        lifetime = token_lifetime(answer, token)
        return Login(token=self._token, lifetime=lifetime, elapsed=answer.elapsed, answer=answer)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- the exchange --------------------------------------------------------------------------

    def _session_for_run(self) -> requests.Session:
        if self._session is not None:
            return self._session
        with self._auth_lock:
            return self._session or self._new_session()

    def _new_session(self) -> requests.Session:
        import requests

        session = requests.Session()
        env = self.environment
        # A fixed pool bounds concurrent connections, whatever the number of jobs followed.
        adapter = requests.adapters.HTTPAdapter(pool_connections=2,
                                                pool_maxsize=env.jobs.pool_size,
                                                pool_block=True)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": f"iaso-probes/{__version__}",
                                "Accept": "application/json"})
        if env.proxy == NO_PROXY:
            session.trust_env = False
        elif env.proxy != PROXY_FROM_ENVIRONMENT:
            session.trust_env = False
            session.proxies = {"http": env.proxy, "https": env.proxy}
        if env.tls.verify:
            session.verify = env.tls.ca_bundle or True
        else:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("TLS verification is switched off for %s", env.name)
            session.verify = False
        if env.tls.client_cert:
            session.cert = ((env.tls.client_cert, env.tls.client_key) if env.tls.client_key
                            else env.tls.client_cert)
        self._session = session
        return session

    def _exchange(self, endpoint: Endpoint, params: Mapping[str, Any]) -> Answer:
        env = self.environment
        url = env.base_url + endpoint.render_path(params)
        method = endpoint.method
        body = endpoint.render_body(params) if endpoint.body is not None else None
        headers = {}
        if endpoint.auth and self._token is not None:
            headers[env.profile.auth.header] = env.profile.auth.header_value(self._token.reveal())
        self._session_for_run()
        started = time.monotonic()
        origin = _origin(url)
        for _hop in range(MAX_REDIRECTS + 1):
            status, raw, response_headers = self._send(method, url, body, headers, started)
            if status not in _REDIRECT_STATUSES:
                break
            target = urljoin(url, response_headers.get("Location", ""))
            if _origin(target) != origin:
                raise RedirectRefused(
                    f"{short_url(url)} redirected to {short_url(target)}, another origin: "
                    "not followed",
                    url=url, status=status, elapsed=time.monotonic() - started)
            log.info("%s %s -> %s, following to %s", method, url, status, target)
            if status in (301, 302, 303) and method != "GET":
                method, body = "GET", None
            url = target
        else:
            raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects from {short_url(url)}",
                                  url=url, status=status, elapsed=time.monotonic() - started)
        elapsed = time.monotonic() - started
        log.info("%s %s -> %s in %.3f s, %d bytes", method, url, status, elapsed, len(raw))
        if status >= 400:
            api_message = error_text(raw)
            reason = f"HTTP {status}" + (f": {api_message}" if api_message else "")
            raise ApiStatusError(f"{short_url(url)} answered {reason}", api_message=api_message,
                                 url=url, status=status, elapsed=elapsed)
        if not 200 <= status < 300:
            raise ApiStatusError(f"{short_url(url)} answered HTTP {status}, expected 2xx", url=url,
                                 status=status, elapsed=elapsed)
        document = parse_json(raw, url=url, status=status, elapsed=elapsed)
        return Answer(endpoint=endpoint, url=url, status=status, elapsed=elapsed, size=len(raw),
                      document=document)

    def _send(self, method: str, url: str, body: Any, headers: Mapping[str, str],
              started: float) -> Tuple[int, bytes, Mapping[str, str]]:
        import requests

        session = self._session_for_run()
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise ApiTimeout(f"no time left to call {short_url(url)} within the probe deadline",
                             url=url, elapsed=time.monotonic() - started)
        timeouts = self.environment.timeouts
        timeout = (min(timeouts.connect, remaining), min(timeouts.read, remaining))
        response = None
        try:
            # verify is repeated here: requests lets REQUESTS_CA_BUNDLE override a session's own.
            response = session.request(method, url, json=body, headers=headers, timeout=timeout,
                                       allow_redirects=False, stream=True, verify=session.verify)
            raw = self._read_bounded(response, url, started)
            return response.status_code, raw, response.headers
        except ProbeInterrupted as exc:
            raise ApiTimeout(f"no complete answer from {short_url(url)} after "
                             f"{time.monotonic() - started:.1f} s: {exc.message}", url=url,
                             elapsed=time.monotonic() - started) from None
        except requests.exceptions.SSLError as exc:
            raise TlsError(f"TLS failure with {short_url(url)}: {_tls_reason(exc)}", url=url,
                           elapsed=time.monotonic() - started) from None
        except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout):
            raise ApiTimeout(f"no answer from {short_url(url)} within {timeout[1]:.1f} s", url=url,
                             elapsed=time.monotonic() - started) from None
        except requests.exceptions.ConnectionError as exc:
            if response is not None:
                raise TransportError(f"the answer from {short_url(url)} was cut short", url=url,
                                     elapsed=time.monotonic() - started) from None
            raise ConnectError(f"cannot connect to {short_url(url)}: {_connect_reason(exc)}",
                               url=url, elapsed=time.monotonic() - started) from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError):
            raise TransportError(f"the answer from {short_url(url)} was cut short or badly encoded",
                                 url=url, elapsed=time.monotonic() - started) from None
        except requests.exceptions.InvalidURL:
            raise ConfigError(f"invalid URL {url!r}", path=self.environment.config_path) from None
        except (OSError, requests.exceptions.RequestException) as exc:
            if isinstance(exc, ServiceError):
                raise
            raise TransportError(f"exchange with {short_url(url)} failed: {type(exc).__name__}",
                                 url=url, elapsed=time.monotonic() - started) from None
        finally:
            if response is not None:
                response.close()

    def _read_bounded(self, response: requests.Response, url: str, started: float) -> bytes:
        limit = self.environment.max_body_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"the answer from {short_url(url)} announces {int(declared)} bytes, "
                               f"over the {limit}-byte bound", url=url,
                               status=response.status_code, elapsed=time.monotonic() - started)
        chunks = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"the answer from {short_url(url)} exceeds the {limit}-byte "
                                   "bound", url=url, status=response.status_code,
                                   elapsed=time.monotonic() - started)
            chunks.append(chunk)
            self.deadline.check()
        return b"".join(chunks)


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker, reason in (("CERTIFICATE_VERIFY_FAILED", "certificate not trusted"),
                           ("certificate has expired", "certificate expired"),
                           ("Hostname mismatch", "certificate does not match the host name"),
                           ("doesn't match", "certificate does not match the host name"),
                           ("WRONG_VERSION_NUMBER", "server does not speak TLS"),
                           ("self-signed", "self-signed certificate")):
        if marker in text:
            detail = ""
            if "verify failed:" in text:
                detail = text.split("verify failed:", 1)[1].split("(")[0].strip(" )'\"")
            return f"{reason} ({detail})" if detail and detail not in reason else reason
    return "handshake failed"


def _connect_reason(exc: BaseException) -> str:
    text = str(exc)
    if "NameResolution" in text or "Name or service not known" in text or \
            "Temporary failure in name resolution" in text or "nodename nor servname" in text:
        return "host name does not resolve"
    if "Connection refused" in text:
        return "connection refused"
    if "No route to host" in text:
        return "no route to host"
    if "Network is unreachable" in text:
        return "network unreachable"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed without an answer"
    if "Connection reset" in text:
        return "connection reset"
    return "connection failed"
