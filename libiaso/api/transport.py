"""HTTP to one origin only, bounded in time and size: the wire under ``IasoClient``.

Every request, the first and each redirect hop alike, is prepared exactly as it will be sent and
its destination read with the parser of the library that will connect (urllib3): scheme, host
and port must be the configured base URL's, or nothing is sent. So no parser confusion in a
``Location`` header (backslashes, userinfo, percent-encoding, IPv6 zone ids, IDN) can carry a
password or a token to another host. Interim 1xx answers are skipped as HTTP says (RFC 9110
15.2): only the final answer counts. Each failure becomes one ``libiaso.errors`` class whose
reason is read from the exception chain (types, OpenSSL verify codes and reason names), never
from message text that a library upgrade may reword.
"""
from __future__ import annotations

import errno
import http.client
import logging
import math
import os
import socket
import ssl
import stat
import threading
import time
from contextlib import contextmanager
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Tuple,
)
from urllib.parse import urljoin

from .. import __version__
from ..config.settings import NO_PROXY, PROXY_FROM_ENVIRONMENT, Environment
from ..deadline import Deadline, DeadlineReached
from ..errors import (
    ApiTimeout,
    BodyTooLarge,
    ConfigError,
    ConnectError,
    OutOfTime,
    ProbeInterrupted,
    RedirectRefused,
    TlsError,
    TransportError,
)
from ..redaction import Redactor
from .answers import short_url

if TYPE_CHECKING:
    import requests

log = logging.getLogger("iaso.client")

MAX_REDIRECTS = 5
STREAM_PIECE = 256 * 1024   # bytes asked of the wire at once when a body is streamed
MAX_INTERIM_ANSWERS = 20
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "ALL_PROXY")

Origin = Tuple[str, str, int]


class StreamedReply(NamedTuple):
    """The final answer of a streamed exchange: its body comes as ``pieces``, each read from
    the wire when asked for, within the deadline and the size bound."""

    url: str
    status: int
    headers: Mapping[str, str]
    pieces: Iterator[bytes]
    started: float

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class FormBody(dict):
    """A request body sent as a form (application/x-www-form-urlencoded), not as JSON."""


class Reply(NamedTuple):
    """The final answer of one exchange, after any same-origin redirects."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    elapsed: float


def transport_origin(url: str) -> Optional[Origin]:
    """Scheme, host and port as urllib3 will connect to them; None if it cannot tell."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parsed = parse_url(url)
    except (LocationParseError, ValueError):
        return None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not parsed.host or parsed.auth:
        return None
    return scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS[scheme]


class Attempt:
    """One exchange as its error mapping needs it: the answers opened (to close them, and to
    tell a cut answer from a refused connection) and the time the deadline left it."""

    def __init__(self) -> None:
        self.responses: List[Any] = []
        self.given = math.inf           # seconds of the deadline left when it was sent
        self.clipped_connect = False    # its connect timeout was cut to the deadline
        self.clipped_read = False       # its read timeout was cut to the deadline
        self.read_timeout = 0.0
        self.spent_before = 0.0         # seconds of the run spent before it was sent


class Transport:
    """All HTTP of one probe run with one environment, to its base URL's origin only."""

    def __init__(self, environment: Environment, deadline: Deadline, redactor: Redactor) -> None:
        self.environment = environment
        self.deadline = deadline
        self.redactor = redactor
        self.origin: Optional[Origin] = None
        self._session: Optional[requests.Session] = None
        self.slowest = 0.0      # the slowest complete answer of this run, in seconds
        self._slowest_lock = threading.Lock()   # answers come from the follower's threads too

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def session(self) -> requests.Session:
        if self._session is None:
            self._session = self._new_session()
        return self._session

    def _new_session(self) -> requests.Session:
        import requests

        env = self.environment
        self.origin = prepared_origin(env.base_url)
        if self.origin is None:
            raise ConfigError("is not a URL the HTTP library can use",
                              path=env.config_path, key=f"environments.{env.name}.base_url")
        _check_tls_files(env)
        session = requests.Session()
        # A fixed pool bounds concurrent connections, whatever the number of jobs followed.
        adapter = final_answer_adapter(pool_connections=2, pool_maxsize=env.jobs.pool_size,
                                       pool_block=True, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": f"iaso-probes/{__version__}",
                                "Accept": "application/json"})
        session.trust_env = False
        if env.proxy == PROXY_FROM_ENVIRONMENT:
            session.proxies = {k: v for k, v in requests.utils.get_environ_proxies(
                env.base_url).items() if v}
        elif env.proxy != NO_PROXY:
            session.proxies = {"http": env.proxy, "https": env.proxy}
        for proxy in list(session.proxies.values()) + [os.environ.get(v, "")
                                                        for v in PROXY_VARIABLES]:
            _mask_userinfo(proxy, self.redactor)
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
        return session

    def exchange(self, method: str, url: str, body: Any,
                 headers: Mapping[str, str]) -> Reply:
        """Send one request, following redirects within the origin; the final answer."""
        started = time.monotonic()
        self.session()
        for _hop in range(MAX_REDIRECTS + 1):
            status, raw, answer_headers = self._send(method, url, body, headers, started)
            if status not in REDIRECT_STATUSES:
                return Reply(url, status, raw, answer_headers, time.monotonic() - started)
            method, url, body = self._next_hop(method, url, body, status, answer_headers,
                                               started)
        raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects from {short_url(url)}",
                              url=url, status=status, elapsed=time.monotonic() - started)

    def _next_hop(self, method: str, url: str, body: Any, status: int,
                  answer_headers: Mapping[str, str], started: float) -> Tuple[str, str, Any]:
        """Where a redirect leads, if it stays on the origin: method, URL and body of the next
        request (a 301, 302 or 303 turns a request with a body into a GET, as HTTP says)."""
        target = urljoin(url, answer_headers.get("Location", ""))
        if not _same_origin(target, self.origin):
            raise RedirectRefused(
                f"{short_url(url)} redirected to {_shown(target, self.redactor)}, another "
                "origin: not followed", url=url, status=status,
                elapsed=time.monotonic() - started)
        log.info("%s %s -> %s, following to %s", method, url, status, target)
        if status in (301, 302, 303) and method != "GET":
            return "GET", target, None
        return method, target, body

    def _send(self, method: str, url: str, body: Any, headers: Mapping[str, str],
              started: float) -> Tuple[int, bytes, Mapping[str, str]]:
        attempt = Attempt()
        sent = time.monotonic()
        try:
            with self._wire_errors(url, started, attempt):
                response = self._open(method, url, body, headers, started, attempt)
                raw = self._read_bounded(response, url, started)
            self._answered_in(time.monotonic() - sent)
            return response.status_code, raw, response.headers
        finally:
            for response in attempt.responses:
                response.close()

    def _open(self, method: str, url: str, body: Any, headers: Mapping[str, str],
              started: float, attempt: Attempt) -> requests.Response:
        """Send one request to the configured origin; the answer's headers read, its body
        not yet (``attempt`` gets the response, and the time the deadline left it)."""
        import requests

        session = self.session()
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise OutOfTime(f"no time left to call {short_url(url)} within the probe's deadline "
                            f"(-t {self.deadline.timeout:g}): earlier steps took "
                            f"{self.deadline.elapsed():.1f} s", url=url,
                            elapsed=time.monotonic() - started)
        timeouts = self.environment.timeouts
        timeout = (min(timeouts.connect, remaining), min(timeouts.read, remaining))
        if remaining < attempt.given:
            attempt.given, attempt.spent_before = remaining, self.deadline.elapsed()
        attempt.clipped_connect = remaining < timeouts.connect
        attempt.clipped_read = remaining < timeouts.read
        attempt.read_timeout = timeout[1]
        if isinstance(body, FormBody):
            request = requests.Request(method, url, data=dict(body), headers=dict(headers))
        else:
            request = requests.Request(method, url, json=body, headers=dict(headers))
        prepared = session.prepare_request(request)
        if prepared_origin(prepared.url or "") != self.origin:
            raise RedirectRefused(f"{_shown(url, self.redactor)} is not on the configured "
                                  "origin: not sent", url=url,
                                  elapsed=time.monotonic() - started)
        response = session.send(prepared, timeout=timeout, allow_redirects=False,
                                stream=True, verify=session.verify,
                                proxies=session.proxies, cert=session.cert)
        attempt.responses.append(response)
        return response

    @contextmanager
    def _wire_errors(self, url: str, started: float, attempt: Attempt) -> Iterator[None]:
        """Every failure of an exchange, sending or reading, as one ``libiaso.errors`` class."""
        import requests

        try:
            yield
        except ProbeInterrupted as exc:
            if isinstance(exc, DeadlineReached):
                self._unless_cut_short(url, started, attempt)
            raise ApiTimeout(f"no complete answer from {short_url(url)} after "
                             f"{time.monotonic() - started:.1f} s: {exc.message}", url=url,
                             elapsed=time.monotonic() - started) from None
        except requests.exceptions.SSLError as exc:
            raise TlsError(f"TLS failure with {short_url(url)}: {tls_reason(exc)}", url=url,
                           elapsed=time.monotonic() - started) from None
        except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout) as exc:
            connecting = isinstance(exc, requests.exceptions.ConnectTimeout)
            if attempt.clipped_connect if connecting else attempt.clipped_read:
                self._unless_cut_short(url, started, attempt)
            raise ApiTimeout(f"no answer from {short_url(url)} within "
                             f"{attempt.read_timeout:.1f} s", url=url,
                             elapsed=time.monotonic() - started) from None
        except requests.exceptions.ConnectionError as exc:
            if attempt.responses:
                raise TransportError(f"the answer from {short_url(url)} was cut short", url=url,
                                     elapsed=time.monotonic() - started) from None
            broken = answer_problem(exc)
            if broken:
                raise TransportError(f"the answer from {short_url(url)} is not valid HTTP: "
                                     f"{broken}", url=url,
                                     elapsed=time.monotonic() - started) from None
            raise ConnectError(f"cannot connect to {short_url(url)}: {connect_reason(exc)}",
                               url=url, elapsed=time.monotonic() - started) from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError):
            raise TransportError(f"the answer from {short_url(url)} was cut short or badly "
                                 "encoded", url=url, elapsed=time.monotonic() - started) from None
        except requests.exceptions.InvalidHeader:
            raise TransportError(f"the answer from {short_url(url)} has malformed headers",
                                 url=url, elapsed=time.monotonic() - started) from None
        except (requests.exceptions.InvalidURL, UnicodeError) as exc:
            raise TransportError(f"request to {_shown(url, self.redactor)} cannot be sent: "
                                 f"{type(exc).__name__}", url=url,
                                 elapsed=time.monotonic() - started) from None
        except (OSError, requests.exceptions.RequestException, http.client.HTTPException) as exc:
            raise TransportError(f"exchange with {short_url(url)} failed: "
                                 f"{_first_reason(exc)}", url=url,
                                 elapsed=time.monotonic() - started) from None

    def _unless_cut_short(self, url: str, started: float, attempt: Attempt) -> None:
        """The deadline cut this exchange: ``OutOfTime`` if it was sent with less than its
        fair share of -t left (the probe's earlier steps used the time, not this answer): an
        API that answered in 0.9 s is not hanging when a call given 0.8 s is cut."""
        if attempt.given < self.fair_share():
            raise OutOfTime(f"no time left for {short_url(url)}: sent with {attempt.given:.2f} s "
                            f"of the probe's deadline (-t {self.deadline.timeout:g}) left, after "
                            f"{attempt.spent_before:.1f} s of earlier steps", url=url,
                            elapsed=time.monotonic() - started) from None

    def _answered_in(self, seconds: float) -> None:
        with self._slowest_lock:
            self.slowest = max(self.slowest, seconds)

    def fair_share(self) -> float:
        """The least time a call must be given for the deadline's cut to count against the
        API: the deadline's fair share, or twice the slowest answer of the run if longer, but
        never more than half the budget: a call given that much and cut is always the API's
        (one slow answer cannot make every later hang read as the probe's lack of time)."""
        deadline = self.deadline
        return min(max(deadline.fair_share(), 2 * self.slowest), deadline.budget / 2)

    # --- streamed answers ----------------------------------------------------------------------

    @contextmanager
    def streamed(self, method: str, url: str, body: Any, headers: Mapping[str, str],
                 limit: int) -> Iterator[StreamedReply]:
        """One exchange whose final answer's body is read piece by piece, for listings too
        large to hold: same origin, redirects, deadline and error classes as ``exchange``; the
        body is bounded by ``limit`` bytes instead of ``max_body_bytes``. An answer that is not
        2xx is read whole (within ``max_body_bytes``) for its reason."""
        started = time.monotonic()
        self.session()
        attempt = Attempt()
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                with self._wire_errors(url, started, attempt):
                    response = self._open(method, url, body, headers, started, attempt)
                status = response.status_code
                if status in REDIRECT_STATUSES:
                    method, url, body = self._next_hop(method, url, body, status,
                                                       response.headers, started)
                    continue
                if not 200 <= status < 300:
                    with self._wire_errors(url, started, attempt):
                        raw = self._read_bounded(response, url, started)
                    yield StreamedReply(url, status, response.headers, iter((raw,)), started)
                    return
                yield StreamedReply(url, status, response.headers,
                                    self._pieces(response, url, started, limit, attempt),
                                    started)
                return
            raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects from {short_url(url)}",
                                  url=url, elapsed=time.monotonic() - started)
        finally:
            for response in attempt.responses:
                response.close()

    def _pieces(self, response: requests.Response, url: str, started: float, limit: int,
                attempt: Attempt) -> Iterator[bytes]:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"the answer from {short_url(url)} announces {int(declared)} "
                               f"bytes, over the {limit}-byte bound", url=url,
                               status=response.status_code, elapsed=time.monotonic() - started)
        size = 0
        chunks = response.iter_content(chunk_size=STREAM_PIECE)
        while True:
            with self._wire_errors(url, started, attempt):
                chunk = next(chunks, None)
                self.deadline.check()
            if chunk is None:
                self._answered_in(time.monotonic() - started)
                return
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"the answer from {short_url(url)} exceeds the {limit}-byte "
                                   "bound", url=url, status=response.status_code,
                                   elapsed=time.monotonic() - started)
            yield chunk

    def _read_bounded(self, response: requests.Response, url: str, started: float) -> bytes:
        limit = self.environment.max_body_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"the answer from {short_url(url)} announces {int(declared)} "
                               f"bytes, over the {limit}-byte bound", url=url,
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


# --- interim answers ---------------------------------------------------------------------------


class _FinalAnswer(http.client.HTTPResponse):
    """An HTTP response that reads past interim 1xx answers (102, 103...) to the final one."""

    def _read_status(self) -> Tuple[str, int, str]:
        for _ in range(MAX_INTERIM_ANSWERS):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client.parse_headers(self.fp)  # an interim answer is a header block, no body
        return version, status, reason


def _final_answer_pools() -> Dict[str, Any]:
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Plain(HTTPConnection):
        response_class = _FinalAnswer

    class Secure(HTTPSConnection):
        response_class = _FinalAnswer

    class PlainPool(HTTPConnectionPool):
        ConnectionCls = Plain

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = Secure

    return {"http": PlainPool, "https": SecurePool}


def final_answer_adapter(**kwargs: Any) -> Any:
    """A requests adapter whose connections read past interim answers; built on first use, as
    requests is not imported by a probe that needs no HTTP."""
    from requests.adapters import HTTPAdapter

    class FinalAnswerAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = _final_answer_pools()

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):
                manager.pool_classes_by_scheme = _final_answer_pools()
            return manager

    return FinalAnswerAdapter(**kwargs)


# --- origins, files and reasons ----------------------------------------------------------------


def prepared_origin(url: str) -> Optional[Origin]:
    """The origin of ``url`` once requests has prepared it for sending (IDNA, quoting)."""
    import requests

    prepared = requests.models.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except (requests.exceptions.RequestException, ValueError, UnicodeError):
        return None
    return transport_origin(prepared.url or "")


def _same_origin(target: str, origin: Optional[Origin]) -> bool:
    """True if ``target`` is plainly on ``origin``: no character that parsers disagree on."""
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in target):
        return False
    authority = target.split("://", 1)[-1].split("/", 1)[0]
    if "@" in authority or "%" in authority:
        return False
    return origin is not None and prepared_origin(target) == origin


def _shown(url: str, redactor: Redactor) -> str:
    """A URL for a message: masked, then without userinfo or control characters, bounded."""
    text = "".join(c if 0x20 < ord(c) != 0x7f else "?" for c in redactor(url))
    scheme, sep, rest = text.partition("://")
    if sep:
        end = min((i for i in (rest.find(c) for c in "/?#\\") if i >= 0), default=len(rest))
        authority, path = rest[:end], rest[end:]
        if "@" in authority:
            authority = "***@" + authority.rsplit("@", 1)[1]
        text = f"{scheme}://{authority}{path.split('?', 1)[0].split('#', 1)[0]}"
    return text[:200]


def _mask_userinfo(url: str, redactor: Redactor) -> None:
    """Register the password of a proxy URL with userinfo, so that it is never shown."""
    if not url or "@" not in url:
        return
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    if password:
        redactor.add(password)
        redactor.add(unquote(password))


def _check_tls_files(env: Environment) -> None:
    """Each TLS file of the configuration exists and is readable: ours to fix, not the API's."""
    for key, path in (("ca_bundle", env.tls.ca_bundle), ("client_cert", env.tls.client_cert),
                      ("client_key", env.tls.client_key)):
        if not path or (key == "ca_bundle" and not env.tls.verify):
            continue
        where = f"environments.{env.name}.tls.{key}"
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist", path=env.config_path,
                              key=where) from None
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read: {exc.strerror}", path=env.config_path,
                              key=where) from None
        directory_allowed = key == "ca_bundle"
        if not (stat.S_ISREG(mode) or (directory_allowed and stat.S_ISDIR(mode))):
            raise ConfigError(f"{path} is not a regular file", path=env.config_path, key=where)
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{path} is not readable by this user", path=env.config_path,
                              key=where)
    _check_tls_contents(env)


class _EncryptedKey(Exception):
    """The client key asks for a passphrase, which no one can type in a core."""


def _refuse_passphrase() -> bytes:
    raise _EncryptedKey()


def _check_tls_contents(env: Environment) -> None:
    """The TLS files hold what they must: certificates in the CA bundle, a certificate and its
    matching, unencrypted key. Found wrong here, it is the configuration's fault (UNKNOWN,
    naming the file), not a handshake failure blamed on the API."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls = env.tls
    where = f"environments.{env.name}.tls"
    if tls.verify and tls.ca_bundle:
        try:
            if os.path.isdir(tls.ca_bundle):
                context.load_verify_locations(capath=tls.ca_bundle)
            else:
                context.load_verify_locations(cafile=tls.ca_bundle)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"{tls.ca_bundle} holds no usable CA certificate "
                              f"({_ssl_words(exc)})", path=env.config_path,
                              key=f"{where}.ca_bundle") from None
    if tls.client_cert:
        try:
            context.load_cert_chain(tls.client_cert, tls.client_key,
                                    password=_refuse_passphrase)
        except _EncryptedKey:
            raise ConfigError(f"{tls.client_key or tls.client_cert}: the key is encrypted; a "
                              "probe cannot type a passphrase", path=env.config_path,
                              key=f"{where}.client_key") from None
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"{tls.client_cert}: no usable certificate and key "
                              f"({_ssl_words(exc)})", path=env.config_path,
                              key=f"{where}.client_cert") from None


def _ssl_words(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason).lower().replace("_", " ") if reason else type(exc).__name__


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it: causes, contexts, urllib3 reasons, wrapped args."""
    pending = [exc]
    seen: set = set()
    while pending and len(seen) < 30:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [getattr(current, "reason", None), current.__cause__, current.__context__]
        linked += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
        pending.extend(item for item in linked if isinstance(item, BaseException))


_VERIFY_CODES = {
    9: "certificate not yet valid",
    10: "certificate expired",
    18: "self-signed certificate",
    19: "self-signed certificate in the chain",
    20: "certificate not trusted (issuer unknown)",
    21: "certificate not trusted (issuer unknown)",
    23: "certificate revoked",
    62: "certificate does not match the host name",
    64: "certificate does not match the IP address",
}
_SSL_REASONS = {
    "WRONG_VERSION_NUMBER": "server does not speak TLS",
    "HTTP_REQUEST": "server does not speak TLS",
    "EE_KEY_TOO_SMALL": "server key too small",
    "CA_MD_TOO_WEAK": "certificate signature too weak",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake refused by the server",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust our client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused our client certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate",
    "KEY_VALUES_MISMATCH": "client certificate and key do not match",
}


def tls_reason(exc: BaseException) -> str:
    for cause in causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            code = getattr(cause, "verify_code", None)
            detail = getattr(cause, "verify_message", "") or ""
            return _VERIFY_CODES.get(code or -1, f"certificate not accepted ({detail})"
                                     if detail else "certificate not accepted")
        if type(cause).__name__ == "CertificateError":
            return "certificate does not match the host name"
        if isinstance(cause, ssl.SSLError) and getattr(cause, "reason", None):
            reason = str(cause.reason)
            return _SSL_REASONS.get(reason, f"handshake failed ({reason.lower()})")
    return "handshake failed"


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
    errno.EADDRNOTAVAIL: "address not available",
}


def connect_reason(exc: BaseException) -> str:
    for cause in causes(exc):
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            return "host name does not resolve"
        if isinstance(cause, OSError) and cause.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[cause.errno]
        if isinstance(cause, http.client.RemoteDisconnected):
            return "connection closed without an answer"
        if type(cause).__name__ == "ProxyError":
            return "the proxy refused or failed"
    return "connection failed"


def answer_problem(exc: BaseException) -> Optional[str]:
    """Why an answer that did come is not HTTP, if that is what went wrong (the connection was
    made: it is not a connection failure)."""
    for cause in causes(exc):
        if isinstance(cause, http.client.LineTooLong):
            return "a header line or the status line is too long"
        if isinstance(cause, http.client.BadStatusLine) and not isinstance(
                cause, http.client.RemoteDisconnected):
            return "no HTTP status line"
        if type(cause).__name__ == "HeaderParsingError":
            return "malformed headers"
    return None


def _first_reason(exc: BaseException) -> str:
    for cause in causes(exc):
        if isinstance(cause, OSError) and cause.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[cause.errno]
        if isinstance(cause, OSError) and cause.strerror:
            return str(cause.strerror)
    return type(exc).__name__
