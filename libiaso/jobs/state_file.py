"""The state file of a stateful job check: one per environment and target, locked.

A Nagios core may start two runs of the same service at once (a forced check beside a
scheduled one); the lock makes the second wait for the first, so a job is launched once. A state
file that cannot be read, parsed or written, or that records impossible values, is our problem,
reported UNKNOWN with its path, and never a reason to launch again: the last run may have
launched a job this one cannot see. The write is atomic (a temporary file renamed over the old)
and held against SIGALRM and SIGTERM, so a launch is never half recorded.

Every name in a path (environment, target) is reduced to safe characters and can neither climb
out of ``state_dir`` nor start with a dot; a name that had to be changed, and every target named
by several fields (host and level; host, file, path and destination), carries a short hash of
its exact value, so two targets never share a file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from types import TracebackType
from typing import IO, Callable, Optional, Sequence, Set, Type

from ..deadline import Deadline
from ..local_files import (
    LocalFileError,
    hold_lock,
    read_regular,
    replace_file,
    unusable,
)
from .round import JobRound, StateFileError

__all__ = ["FileRounds", "StateFile", "StateFileError", "state_path"]

FORMAT = 1
NAME_LIMIT = 80
log = logging.getLogger("iaso.jobs")


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:10]


def path_component(text: str) -> str:
    """``text`` as one safe file-name component: unchanged if it already is one."""
    reduced = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if reduced == text and text and not text.startswith(".") and len(text) <= NAME_LIMIT:
        return text
    return f"{reduced.lstrip('.')[:NAME_LIMIT - 11] or '_'}-{_digest(text)}"


def state_path(directory: str, environment: str, kind: str, name: str,
               identity: Sequence[str] = ()) -> str:
    """``<dir>/<env>/<kind>-<name>[-<hash of the identity>].json``, always inside ``dir``."""
    file_name = f"{kind}-{path_component(name)}"
    if identity:
        file_name += f"-{_digest(kind, name, *identity)}"
    path = os.path.join(directory, path_component(environment), file_name + ".json")
    root = os.path.realpath(directory)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise StateFileError(f"state file {path} would be outside {directory}")
    return path


def legacy_state_path(directory: str, environment: str, kind: str, target: str
                      ) -> Optional[str]:
    """Where version 1.x kept the state of ``target`` (None if that path left ``directory``)."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:100] or "_"

    path = os.path.join(directory, safe(environment), f"{safe(kind)}-{safe(target)}.json")
    root = os.path.realpath(directory)
    if os.path.commonpath([root, os.path.realpath(path)]) != root or safe(environment) in (
            ".", ".."):
        return None
    return path


STATE_SIZE_LIMIT = 4 * 1024 * 1024


class StateFile:
    """Exclusive access to one state file for the length of a ``with`` block."""

    def __init__(self, path: str, deadline: Deadline) -> None:
        self.path = path
        self.deadline = deadline
        self._lock: Optional[IO[bytes]] = None

    def __enter__(self) -> StateFile:
        try:
            self._lock = hold_lock(self.path, self.deadline.remaining, 0.5)
        except LocalFileError as exc:
            raise StateFileError(str(exc.strerror)) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read(self) -> Optional[dict]:
        """The saved state, or None when there is none yet."""
        try:
            raw, _ = read_regular(self.path, STATE_SIZE_LIMIT + 1)
            if len(raw) > STATE_SIZE_LIMIT:
                raise StateFileError(f"state file {self.path} is larger than "
                                     f"{STATE_SIZE_LIMIT} bytes: not one of ours")
            data = json.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            return None
        except StateFileError:
            raise
        except OSError as exc:
            raise StateFileError(f"state file {self.path} {unusable(exc)}") from None
        except (ValueError, RecursionError):
            raise StateFileError(f"state file {self.path} is corrupt (not JSON); check the job "
                                 "by hand, then delete the file to start afresh") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StateFileError(f"state file {self.path} is not a state file of this version; "
                                 "check the job by hand, then delete the file")
        return data

    def write(self, data: dict) -> None:
        """Replace the state atomically; SIGALRM and SIGTERM wait until it is done."""
        with self.deadline.held():
            try:
                replace_file(self.path, [json.dumps(dict(data, format=FORMAT), indent=1,
                                                    sort_keys=True, allow_nan=False)])
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "a value is not finite"
                raise StateFileError(f"state file {self.path} cannot be written: "
                                     f"{reason}") from None


class FileRounds:
    """The ``RoundStore`` of one target: its state file, locked while a run uses it.

    A round kept under the name version 1.x gave the target (host alone, file alone) is adopted
    once, by the first run that finds no file under the new name, and the old file removed: jobs
    in progress at the upgrade are followed, not launched again.
    """

    def __init__(self, directory: str, environment: str, kind: str, name: str,
                 identity: Sequence[str], deadline: Deadline, clock: Callable[[], float],
                 category: Callable[[Optional[str]], Optional[str]],
                 legacy_name: Optional[str] = None, hostnames: Sequence[str] = ()) -> None:
        self.path = state_path(directory, environment, kind, name, identity)
        legacy = (legacy_state_path(directory, environment, kind, legacy_name)
                  if legacy_name is not None else None)
        self.legacy = legacy if legacy != self.path else None
        self.kind = kind
        self.name = name
        self.identity = list(identity)
        self.deadline = deadline
        self.clock = clock
        self.category = category
        self.hostnames = {h.lower() for h in hostnames}
        self._file: Optional[StateFile] = None

    def __enter__(self) -> JobRound:
        self._file = StateFile(self.path, self.deadline).__enter__()
        try:
            data = self._file.read()
            if data is not None:
                return JobRound.from_dict(data, self.path, self.kind, self.clock(),
                                          self.category)
            return self._adopt_legacy() or JobRound(self.kind, self.name, self.identity)
        except BaseException:
            self._file.__exit__()
            self._file = None
            raise

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        if self._file is not None:
            self._file.__exit__()
            self._file = None

    def save(self, job_round: JobRound) -> None:
        assert self._file is not None, "save() outside the with block"
        job_round.target, job_round.identity = self.name, self.identity
        self._file.write(job_round.to_dict())

    def claimed(self) -> Set[str]:
        """The job IDs of the last launch of every other target of this kind on this poller
        (the other files in the environment's directory; each launch is saved as soon as its
        answer comes). Best effort: a file that cannot be read claims nothing."""
        directory = os.path.dirname(self.path)
        try:
            names = os.listdir(directory)
        except OSError:
            return set()
        prefix, own = f"{self.kind}-", os.path.basename(self.path)
        found: Set[str] = set()
        for name in names:
            if not name.startswith(prefix) or not name.endswith(".json") or name == own:
                continue
            try:
                raw, _ = read_regular(os.path.join(directory, name), STATE_SIZE_LIMIT + 1)
                data = json.loads(raw.decode("utf-8")) if len(raw) <= STATE_SIZE_LIMIT else {}
            except (OSError, ValueError, RecursionError):
                continue
            if not isinstance(data, dict):
                continue
            records = data.get("tracks")
            for record in records if isinstance(records, list) else ():
                job_id = record.get("job_id") if isinstance(record, dict) else None
                if job_id is not None:
                    found.add(str(job_id))
        return found

    def _adopt_legacy(self) -> Optional[JobRound]:
        if self.legacy is None or not os.path.exists(self.legacy):
            return None
        with StateFile(self.legacy, self.deadline) as old:
            data = old.read()
            if data is None:
                return None
            job_round = JobRound.from_dict(data, self.legacy, self.kind, self.clock(),
                                           self.category)
            if self.hostnames and any(t.hostname.lower() not in self.hostnames
                                      for t in job_round.tracks):
                return None
            with self.deadline.held():
                self.save(job_round)
                os.unlink(self.legacy)
        log.info("%s: adopted the state of %s (kept there by an earlier version)", self.path,
                 self.legacy)
        return job_round
