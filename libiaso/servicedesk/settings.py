"""The service-desk configuration file (``/etc/iaso-probes/servicedesk.yaml``, ``-C``): which
desk, how to reach it, where undelivered notifications wait, and how acknowledgements go back
into the core. Secrets (the desk's token, the Icinga 2 API password) are files named here, read
when needed, never values of this file or of a command line. Every key: docs/service-desk.md.
"""
from __future__ import annotations

import os
from typing import List, NamedTuple, Optional
from urllib.parse import urlsplit

from ..api.transport import prepared_origin
from ..config.credentials import Credentials, Secret
from ..config.schema import Node
from ..config.settings import read_yaml, shown_url

DEFAULT_PATH = "/etc/iaso-probes/servicedesk.yaml"
DEFAULT_SPOOL = "/var/spool/iaso-probes/servicedesk"
SPOOL_ENV = "IASO_SERVICEDESK_SPOOL"
DEFAULT_SENDMAIL = "/usr/sbin/sendmail"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
TIMEOUT_LIMIT = 3600.0


class RestDesk(NamedTuple):
    """Request Tracker's REST 2 API."""

    url: str                       # RT's base URL; the API is <url>/REST/2.0/
    queue: str
    token_file: str
    ca_bundle: Optional[str]

    def token(self, warnings: Optional[List[str]] = None) -> Secret:
        return Credentials(username="rt", password_file=self.token_file).password(warnings)


class MailDesk(NamedTuple):
    """Any desk with a mail gateway."""

    sendmail: str
    to: str
    sender: str


class NagiosBack(NamedTuple):
    """Acknowledgements written to Nagios' (or Naemon's) external command file."""

    command_file: str
    status_file: Optional[str]     # read to skip problems already acknowledged or ended


class IcingaBack(NamedTuple):
    """Acknowledgements posted to Icinga 2's API, its certificate verified."""

    url: str
    ca_bundle: str
    username: str
    password_file: str

    def password(self, warnings: Optional[List[str]] = None) -> Secret:
        return Credentials(username=self.username,
                           password_file=self.password_file).password(warnings)


class DeskSettings(NamedTuple):
    origin: str
    spool: str
    timeout: float                 # what one notify run may take in all
    request_timeout: float         # one exchange with the desk
    settle: float                  # wait after spooling, for notifications the core ran beside
    journal: Optional[str]         # a file where each run says what it did (the core keeps no
                                   # notification command's output)
    rest: Optional[RestDesk]
    mail: Optional[MailDesk]
    nagios: Optional[NagiosBack]
    icinga2: Optional[IcingaBack]
    author: str                    # the author of acknowledgements written into the core


def default_spool() -> str:
    """The spool of a configuration that names none, and where notifications are held while
    the configuration cannot be read: $IASO_SERVICEDESK_SPOOL, else DEFAULT_SPOOL."""
    return os.environ.get(SPOOL_ENV) or DEFAULT_SPOOL


def load_settings(path: Optional[str]) -> DeskSettings:
    """The settings in ``path``; with no file at all, mail through the command line's options
    only, spooled under the default directory."""
    if not path:
        return parse_settings({}, "(no configuration file)")
    return parse_settings(read_yaml(path), path)


def parse_settings(data: object, path: str) -> DeskSettings:
    root = Node(data if data is not None else {}, path)
    base = os.path.dirname(os.path.abspath(path)) if os.path.exists(path) else os.getcwd()
    origin = root.text("origin", "")
    if origin and not all(c.isalnum() or c in "-_." for c in origin):
        raise root.error("letters, digits, '-', '_' and '.' only", "origin")
    spool = _path(root.text("spool", default_spool()), base)
    timeout = _seconds(root, "timeout", 20, TIMEOUT_LIMIT)
    request_timeout = _seconds(root, "request_timeout", 5, TIMEOUT_LIMIT)
    settle = _seconds(root, "settle", 0.5, 60, exclusive=False)
    journal = _optional_path(root, "journal", base)
    rest = mail = None
    desk = root.node("desk")
    kind = desk.text("kind", "mail", choices=("rt-rest", "mail"))
    if kind == "rt-rest":
        url = desk.text("url").rstrip("/")
        _check_url(desk, "url", url)
        rest = RestDesk(url=url, queue=desk.text("queue", "IASO"),
                        token_file=_path(desk.text("token_file"), base),
                        ca_bundle=_optional_path(desk, "ca_bundle", base))
    else:
        mail = MailDesk(sendmail=desk.text("sendmail", DEFAULT_SENDMAIL), to=desk.text("to", ""),
                        sender=desk.text("from", ""))
    desk.finish()
    back = root.node("acknowledge")
    nagios = icinga = None
    if back.has("nagios_command_file"):
        nagios = NagiosBack(command_file=_path(back.text("nagios_command_file"), base),
                            status_file=_optional_path(back, "nagios_status_file", base))
    if back.has("icinga2_url"):
        url = back.text("icinga2_url").rstrip("/")
        if prepared_origin(url) is None or urlsplit(url).scheme != "https":
            raise back.error(f"Icinga 2's API is HTTPS only, got {shown_url(url)}",
                             "icinga2_url")
        icinga = IcingaBack(url=url, ca_bundle=_path(back.text("icinga2_ca"), base),
                            username=back.text("icinga2_user"),
                            password_file=_path(back.text("icinga2_password_file"), base))
    author = back.text("author", "iaso-servicedesk")
    if any(c == ";" or not c.isprintable() for c in author):
        raise back.error("no ';' and no control character: the author is a field of the "
                         "core's external command", "author")
    back.finish()
    root.finish()
    return DeskSettings(origin=origin, spool=spool, timeout=timeout,
                        request_timeout=request_timeout, settle=settle, journal=journal,
                        rest=rest, mail=mail,
                        nagios=nagios, icinga2=icinga, author=author)


def _check_url(node: Node, key: str, url: str) -> None:
    """The token travels to this URL: HTTPS, or plain HTTP on this machine only."""
    try:
        parts = urlsplit(url)
        hostname, credentials = parts.hostname, parts.username or parts.password
    except ValueError:
        raise node.error(f"expected an http(s) URL, got {shown_url(url)!r}", key) from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise node.error(f"expected an http(s) URL, got {shown_url(url)!r}", key)
    if credentials:
        raise node.error("credentials do not belong in the URL (token_file holds the token)",
                         key)
    if prepared_origin(url) is None:
        raise node.error(f"not a URL the HTTP library can use: {shown_url(url)!r}", key)
    if parts.scheme == "http" and hostname not in LOOPBACK:
        raise node.error(f"the token would cross the network in clear: use https, got "
                         f"{shown_url(url)}", key)


def _seconds(node: Node, key: str, default: float, limit: float,
             exclusive: bool = True) -> float:
    return float(node.number(key, default, exclusive=exclusive, maximum=limit,
                             unit=" seconds"))


def _path(value: str, base: str) -> str:
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _optional_path(node: Node, key: str, base: str) -> Optional[str]:
    value = node.text(key, None)
    return None if value is None else _path(value, base)


def origin_for(settings: DeskSettings, core: str, option: Optional[str]) -> str:
    """The origin named on the command line, else in the file, else the core's kind."""
    return option or settings.origin or core

