"""Where the password comes from: a file or an environment variable, never the command line.

A core shows expanded command lines in ``ps`` and in its web console, so a password given as an
option would be on display; a file readable by the monitoring user alone, or a variable set by
the core's environment, is not.
"""
from __future__ import annotations

import os
import stat
from typing import List, NamedTuple, Optional

from ..errors import SecretError


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


def _from_file(path: str, warnings: Optional[List[str]]) -> Secret:
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            first = handle.readline(65536)
    except FileNotFoundError:
        raise SecretError(f"password file {path} does not exist") from None
    except PermissionError:
        raise SecretError(f"password file {path} is not readable by this user") from None
    except OSError as exc:
        raise SecretError(f"password file {path} cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise SecretError(f"password file {path} is a directory")
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and warnings is not None:
        warnings.append(f"password file {path} is accessible by group or others "
                        f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    if first.endswith(b"\n"):
        first = first[:-1]
        if first.endswith(b"\r"):
            first = first[:-1]
    if not first:
        raise SecretError(f"password file {path} is empty (the password is its first line)")
    try:
        return Secret(first.decode("utf-8"))
    except UnicodeDecodeError:
        raise SecretError(f"password file {path} is not UTF-8 text") from None
