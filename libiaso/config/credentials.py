"""Where the password comes from: a file or an environment variable, never the command line.

A core shows expanded command lines in ``ps`` and in its web console, so a password given as an
option would be on display; a file readable by the monitoring user alone, or a variable set by
the core's environment, is not.
"""
from __future__ import annotations

import os
import stat
from typing import List, NamedTuple, Optional, Tuple

from ..errors import ConfigError, SecretError
from ..local_files import LocalFileError, read_regular


class Secret:
    """A string that refuses to show itself in reprs, logs and tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Credentials(NamedTuple):
    """The login name and where to find the password."""

    username: str
    password_file: Optional[str] = None
    password_env: Optional[str] = None

    def password(self, warnings: Optional[List[str]] = None) -> Secret:
        """Read the password now; problems with a file's mode are appended to ``warnings``."""
        if self.password_file:
            return _from_file(self.password_file, warnings)
        assert self.password_env
        value = os.environ.get(self.password_env)
        if value is None:
            raise SecretError(f"environment variable {self.password_env} is not set")
        if not value:
            raise SecretError(f"environment variable {self.password_env} is empty")
        return Secret(value)


PASSWORD_LINE_LIMIT = 4096


def _from_file(path: str, warnings: Optional[List[str]]) -> Secret:
    """The first line of a regular file, read without blocking and within a bound."""
    try:
        data, mode = read_regular_file(path, PASSWORD_LINE_LIMIT + 2, "password file")
    except SecretError:
        raise
    except ConfigError as exc:
        raise SecretError(exc.message) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and warnings is not None:
        warnings.append(f"password file {path} is accessible by group or others "
                        f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    first, newline, _ = data.partition(b"\n")
    if not newline and len(data) > PASSWORD_LINE_LIMIT:
        raise SecretError(f"password file {path}: the first line is longer than "
                          f"{PASSWORD_LINE_LIMIT} bytes; is this the right file?")
    if first.endswith(b"\r"):
        first = first[:-1]
    if not first:
        raise SecretError(f"password file {path} is empty (the password is its first line)")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"password file {path} is not UTF-8 text") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in text):
        raise SecretError(f"password file {path}: the first line holds control characters")
    return Secret(text)


def read_regular_file(path: str, limit: int, what: str) -> Tuple[bytes, int]:
    """Up to ``limit`` bytes of a regular file and its mode; anything else a ``ConfigError``
    naming the file (a FIFO or a device is refused at once instead of hanging the probe)."""
    try:
        return read_regular(path, limit)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"{what} {path} is not readable by this user") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} {_why(exc)}") from None


def _why(exc: OSError) -> str:
    if isinstance(exc, LocalFileError):
        return str(exc.strerror)
    return f"cannot be read: {exc.strerror}"
