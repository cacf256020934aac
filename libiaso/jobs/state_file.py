"""The state file of a stateful job check: one per environment and target, locked.

A Nagios core may start two runs of the same service at once (a forced check beside a
scheduled one); the lock makes the second wait for the first, so a job is launched once. A state
file that cannot be read, parsed or written is our problem, reported UNKNOWN with its path, and
never a reason to launch again: the last run may have launched a job this one cannot see.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import time
from typing import IO, Optional

from ..deadline import Deadline
from ..errors import IasoError

FORMAT = 1


class StateFileError(IasoError):
    """The state file or its directory is unusable (UNKNOWN: ours to fix, not the API's)."""


def state_path(directory: str, environment: str, kind: str, target: str) -> str:
    """``<dir>/<env>/<kind>-<target>.json`` with names reduced to safe characters."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:100] or "_"

    return os.path.join(directory, safe(environment), f"{safe(kind)}-{safe(target)}.json")


class StateFile:
    """Exclusive access to one state file for the length of a ``with`` block."""

    def __init__(self, path: str, deadline: Deadline) -> None:
        self.path = path
        self.deadline = deadline
        self._lock: Optional[IO[bytes]] = None

    def __enter__(self) -> StateFile:
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o750, exist_ok=True)
            self._lock = open(self.path + ".lock", "ab")
        except OSError as exc:
            raise StateFileError(f"state directory {directory} is not usable: "
                                 f"{exc.strerror}") from None
        while True:
            try:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StateFileError(f"cannot lock {self.path}: {exc.strerror}") from None
            if self.deadline.remaining() < 0.5:
                raise StateFileError(f"{self.path} stayed locked by another run")
            time.sleep(0.05)

    def __exit__(self, *exc_info: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read(self) -> Optional[dict]:
        """The saved state, or None when there is none yet."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(f"state file {self.path} cannot be read: {exc.strerror}") from None
        except ValueError:
            raise StateFileError(f"state file {self.path} is corrupt (not JSON); check the job "
                                 "by hand, then delete the file to start afresh") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StateFileError(f"state file {self.path} is not a state file of this version; "
                                 "check the job by hand, then delete the file")
        return data

    def write(self, data: dict) -> None:
        """Replace the state atomically."""
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(dict(data, format=FORMAT), handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise StateFileError(f"state file {self.path} cannot be written: "
                                 f"{exc.strerror}") from None
