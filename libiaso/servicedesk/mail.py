"""A notification as a mail to a desk's mail gateway, handed to sendmail.

The subject is for people; the ``X-IASO-*`` headers are for the gateway: the ticket key, the
object, the notification's own ID (so that the desk records it once) and the action the desk
must take (open, record, resolve). A plain mail gateway only threads by its own ticket numbers,
so the desk side must read these headers; docs/service-desk.md says what it must do, and
etc/request-tracker ships it for Request Tracker.

Nothing a check printed can reach a header line: every header value is one line, and the
library encodes non-ASCII text (RFC 2047) instead of passing raw bytes.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import List

from ..errors import DeskRejected, DeskUnreachable
from .notification import Notification
from .settings import MailDesk
from .single_line import one_line

HEADER_LIMIT = 900


def header(text: str) -> str:
    """Header-safe: one line (single_line.py), bounded."""
    return one_line(text)[:HEADER_LIMIT]


def subject_of(notification: Notification) -> str:
    n = notification
    where = f"[IASO {n.environment}] " if n.environment else "[IASO] "
    return header(f"{where}{n.kind} {n.object_name} is {n.state} [ticket {n.key or '-'}]")


def body_of(notification: Notification) -> str:
    """The readable text of a notification, the same for a mail and a REST comment."""
    n = notification
    lines: List[str] = [f"Ticket: {n.key or '-'}", f"Notification: {n.kind}"]
    if n.environment:
        lines.append(f"Environment: {n.environment}")
    lines.append(f"Host: {n.host}")
    if n.service:
        lines.append(f"Service: {n.service}")
    lines += [f"State: {n.state}"]
    if n.attempt:
        lines.append(f"Attempt: {n.attempt}")
    if n.time:
        lines.append(f"Time: {n.time}")
    lines.append(f"Summary: {n.output}")
    if n.runbook:
        lines.append(f"Runbook: {n.runbook}")
    if n.author or n.comment:
        lines.append(f"Comment: {n.author}: {n.comment}".rstrip(": "))
    body = "\n".join(_single(line) for line in lines)
    if n.details:
        body += "\n\n" + n.details.strip("\n")
    return body + "\n"


def _single(line: str) -> str:
    """A body line keeps its text; a line break inside it becomes a visible ' / '."""
    return re.sub("\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " / ", line)


def build_mail(notification: Notification, desk: MailDesk) -> EmailMessage:
    n = notification
    message = EmailMessage(policy=policy.default.clone(max_line_length=998))  # sendmail: \n
    message["To"] = header(notification.to or desk.to)
    if desk.sender:
        message["From"] = header(desk.sender)
    message["Subject"] = subject_of(n)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid("iaso")
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (("X-IASO-Ticket", n.key), ("X-IASO-Origin", n.origin),
                        ("X-IASO-Host", n.host), ("X-IASO-Service", n.service),
                        ("X-IASO-Notification", n.kind),
                        ("X-IASO-Notification-Id", n.notification_id),
                        ("X-IASO-Action", n.action.value)):
        if value:
            message[name] = header(value)
    message.set_content(body_of(n), cte="8bit")
    return message


def send(notification: Notification, desk: MailDesk, timeout: float) -> None:
    """Hand the mail to sendmail; a failure or a hang leaves the notification spooled."""
    if not notification.to and not desk.to:
        raise DeskUnreachable("no desk address: give --to or desk.to in the configuration")
    data = build_mail(notification, desk).as_bytes()
    try:
        process = subprocess.Popen([desk.sendmail, "-t", "-oi"], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except OSError as exc:
        raise DeskUnreachable(f"{desk.sendmail} cannot be run: {exc.strerror}") from None
    try:
        _, error = process.communicate(data, timeout=max(0.1, timeout))
    except subprocess.TimeoutExpired:
        _end(process)
        raise DeskUnreachable(f"{desk.sendmail} did not finish within {timeout:g} s") from None
    except BaseException:        # the run's deadline or a stop signal: no sendmail left behind
        _end(process)
        raise
    if process.returncode == 0:
        return
    text = header(error.decode("utf-8", "replace"))[:200]
    if process.returncode == 67 or process.returncode == 65:   # EX_NOUSER, EX_DATAERR
        raise DeskRejected(f"{desk.sendmail} refused the mail ({process.returncode}): {text}")
    raise DeskUnreachable(f"{desk.sendmail} exited with {process.returncode}: {text}")


def _end(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    process.wait()
