"""The application log: the human-readable trail of what a probe did.

Requests, retries, re-logins, state-file decisions: every line masked against the run's secrets.
It can never change the probe's state: a log that cannot be opened or written becomes a note in
long output, and logging's own traceback on stderr is suppressed.
"""
from __future__ import annotations

import logging
import os
import sys
import unicodedata
from typing import Any, List, Optional

from ..config.settings import LogSettings
from ..errors import ProbeInterrupted
from ..local_files import open_regular
from ..redaction import Redactor


class _RedactingFormatter(logging.Formatter):
    """Each record one line, masked: a message carries texts of the API's (a job status, an
    error text) that must not start lines of their own and pass for the probe's."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(self.redactor(record.message))
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))


def one_line(text: str) -> str:
    """``text`` with every control, line or paragraph separator and format character escaped."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c.isprintable() and unicodedata.category(c) not in ("Zl", "Zp", "Cf")
                   else c.encode("unicode_escape").decode("ascii") for c in text)


class _QuietFileHandler(logging.FileHandler):
    """A full disk must not put logging's traceback on stderr: note it once instead."""

    def __init__(self, path: str, notes: List[str]) -> None:
        super().__init__(path, encoding="utf-8", delay=False)
        self.notes = notes
        self.failed = False

    def _open(self) -> Any:
        """Opened as every file of the probe is: without blocking on a FIFO, and only if it is
        a regular file (or a device such as /dev/null)."""
        fd = open_regular(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644,
                          devices=True)
        return os.fdopen(fd, "a", encoding="utf-8")

    def handleError(self, record: logging.LogRecord) -> None:
        interrupted = sys.exc_info()[1]
        if isinstance(interrupted, ProbeInterrupted):
            raise interrupted   # the deadline or SIGTERM landed in a write: it is not a disk
        if not self.failed:
            self.failed = True
            self.notes.append(f"application log {self.baseFilename} cannot be written "
                              "(disk full?); lines were lost")


class ApplicationLog:
    """The configured application log file, attached to the ``iaso`` loggers for one run."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.handler: Optional[logging.Handler] = None

    def open(self, settings: LogSettings, verbose_level: int, notes: List[str]) -> None:
        if not settings.application:
            return
        try:
            handler = _QuietFileHandler(settings.application, notes)
        except OSError as exc:
            notes.append(f"application log {settings.application} cannot be opened: "
                         f"{exc.strerror}")
            return
        level = min(verbose_level, getattr(logging, settings.level.upper()))
        handler.setLevel(level)
        handler.setFormatter(_RedactingFormatter(self.redactor))
        logger = logging.getLogger("iaso")
        logger.setLevel(min(logger.level or logging.WARNING, level))
        logger.addHandler(handler)
        self.handler = handler

    def close(self, last_line: str) -> None:
        if self.handler is None:
            return
        logger = logging.getLogger("iaso")
        if self.handler.level <= logging.INFO:
            logger.info("finished: %s", last_line)
        logger.removeHandler(self.handler)
        try:
            self.handler.close()
        except OSError:
            pass
        self.handler = None
