"""The exception tree of iaso-probes.

Every failure a probe can meet is one of these classes. The class says who is at fault, and
therefore which Nagios state it earns (see ``libiaso.states``): our own usage or configuration
(UNKNOWN) or the supervised API (CRITICAL). Each exception carries the facts of the failure as
attributes so that probes, logs and tests never have to parse messages. Messages never contain
a secret: they are built from URLs, statuses and field names only.
"""
from __future__ import annotations

from typing import Optional


class IasoError(Exception):
    """Base of every error raised on purpose by libiaso."""

    def __init__(self, message: str, *, url: Optional[str] = None,
                 status: Optional[int] = None, elapsed: Optional[float] = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.elapsed = elapsed


# --- our side: UNKNOWN -------------------------------------------------------------------------

class ProbeUsageError(IasoError):
    """Bad command line: unknown option, malformed range, impossible value."""


class ConfigError(IasoError):
    """The configuration file is missing, unreadable, not YAML or not valid."""

    def __init__(self, message: str, *, path: Optional[str] = None,
                 key: Optional[str] = None) -> None:
        where = ""
        if path:
            where = path + (f": {key}" if key else "") + ": "
        elif key:
            where = f"{key}: "
        super().__init__(where + message)
        self.path = path
        self.key = key


class SecretError(ConfigError):
    """The password file or variable is missing, unreadable or empty."""


class ProbeInterrupted(IasoError):
    """The probe's own deadline or a signal stopped it outside any API call."""


class OutOfTime(IasoError):
    """A call the probe's deadline cut, or that was not made, because the probe's earlier steps
    had used its time: the call was never given a fair share of -t, so the API is not blamed.
    Not an interruption: the probe goes on and reports what it has."""


# --- the service's side: CRITICAL (or WARNING by threshold) --------------------------------------

class ServiceError(IasoError):
    """The supervised API did not do what the contract says."""


class TransportError(ServiceError):
    """No usable HTTP exchange took place."""


class ConnectError(TransportError):
    """The connection could not be made: refused, unreachable, name not resolved."""


class TlsError(TransportError):
    """The TLS handshake failed: untrusted or wrong-host certificate, protocol error."""


class ApiTimeout(TransportError):
    """No complete answer came within the time allowed."""


class RedirectRefused(TransportError):
    """The API redirected to another origin, where credentials must not follow."""


class ApiStatusError(ServiceError):
    """The API answered with an HTTP error status; ``api_message`` is its own error text."""

    def __init__(self, message: str, *, api_message: Optional[str] = None,
                 url: Optional[str] = None, status: Optional[int] = None,
                 elapsed: Optional[float] = None) -> None:
        super().__init__(message, url=url, status=status, elapsed=elapsed)
        self.api_message = api_message


class PayloadError(ServiceError):
    """The answer's body is not what the contract describes."""


class BodyTooLarge(PayloadError):
    """The body exceeded the configured size bound and was not read further."""


class NotJson(PayloadError):
    """The body is not valid JSON (HTML maintenance page, truncated body, binary)."""


class FieldError(PayloadError):
    """A field the profile names is unusable; ``field`` is its dotted path."""

    def __init__(self, message: str, *, field: str, url: Optional[str] = None,
                 status: Optional[int] = None, elapsed: Optional[float] = None) -> None:
        super().__init__(message, url=url, status=status, elapsed=elapsed)
        self.field = field


class MissingField(FieldError):
    """A field the profile names is absent from the answer."""


class WrongType(FieldError):
    """A field is present but of the wrong JSON type or value."""


class AuthenticationRejected(ServiceError):
    """The login was refused, or succeeded without giving a token."""


class ListingDefect(PayloadError):
    """A list endpoint's pages do not add up to one listing: cut short, a total that moves,
    an entry named twice. ``received`` entries were read of the ``total`` announced."""

    def __init__(self, message: str, *, received: int = 0, total: Optional[int] = None,
                 url: Optional[str] = None, status: Optional[int] = None,
                 elapsed: Optional[float] = None) -> None:
        super().__init__(message, url=url, status=status, elapsed=elapsed)
        self.received = received
        self.total = total


# --- the core: passive results not taken; our side, so UNKNOWN ---------------------------------

class DeliveryError(IasoError):
    """The monitoring core could not be given the passive results (spool directory, command
    file or Icinga 2 API unusable); ``route`` names the way that failed."""

    def __init__(self, message: str, *, route: str) -> None:
        super().__init__(message)
        self.route = route


# --- the service desk: never the supervised API's fault, so UNKNOWN if ever judged -------------

class DeskError(IasoError):
    """The service desk did not take a notification."""


class DeskUnreachable(DeskError):
    """The desk cannot take anything now (down, timing out, refusing our credentials): the
    notification stays spooled and is delivered later, in order."""


class DeskRejected(DeskError):
    """The desk refused this one notification for good: it is set aside, not retried."""
