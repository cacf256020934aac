"""What the fleet check keeps between runs: the fleet as last listed, and what was delivered.

An incremental run asks the API only for the VMs changed since the last listing and lays them
over this snapshot; every VM is judged again at each run all the same (a VM that does not change
grows older). The snapshot also remembers, per VM result, what was last delivered to the core
and when, so that an unchanged result is sent again only when due.

One file per environment, ``<state_dir>/<env>/fleet.json``, locked for the length of a run (a
forced check beside a scheduled one waits, while the time it needs after the lock is left: else
``OutOfTime``, UNKNOWN, naming how long it waited), replaced atomically and held against
SIGALRM and SIGTERM while it is written. A snapshot that cannot be parsed is set aside with a
note and the run lists the fleet whole: unlike a job's state, nothing is lost by starting
afresh.
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import IO, Any, Dict, Iterator, List, Optional

from ..deadline import Deadline
from ..errors import IasoError, OutOfTime
from ..local_files import LocalFileError, hold_lock, open_regular, replace_file
from .inventory import Vm

FORMAT = 1


class SnapshotError(IasoError):
    """The snapshot's directory or file cannot be used (UNKNOWN: ours to fix)."""


class Snapshot:
    """The fleet as last listed, and the per-VM results last delivered."""

    def __init__(self, basis: str, listed_at: Optional[float] = None,
                 full_at: Optional[float] = None, vms: Optional[Dict[str, Vm]] = None,
                 sent: Optional[Dict[str, List[Any]]] = None,
                 left: Optional[List[str]] = None) -> None:
        self.basis = basis            # what the records mean: grouping and listing, in short
        self.listed_at = listed_at    # our clock when the last complete listing began
        self.full_at = full_at        # ... the last complete listing of the whole fleet
        self.vms: Dict[str, Vm] = vms or {}
        self.sent: Dict[str, List[Any]] = sent or {}   # service key -> [mark, when sent]
        self.left: List[str] = left or []   # host!service of the results the core did not
        #                                     take in time: sent first next run

    def json_pieces(self) -> Iterator[str]:
        """The snapshot as JSON, a VM at a time: 100,000 VMs are never one string or one
        mapping more in memory."""
        encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
        head = {"format": FORMAT, "basis": self.basis, "listed_at": self.listed_at,
                "full_at": self.full_at}
        yield encode(head)[:-1] + ',"sent":' + encode(self.sent) + ',"left":' + \
            encode(self.left) + ',"vms":{'
        first = True
        for identity, vm in self.vms.items():
            yield ("" if first else ",") + encode(identity) + ":" + encode(vm.stored())
            first = False
        yield "}}"

    @classmethod
    def from_dict(cls, data: Any, basis: str) -> Snapshot:
        """The snapshot ``data`` holds; ``ValueError`` if it is not one (any part of it)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a fleet snapshot of this version")
        if data.get("basis") != basis:
            return cls(basis)   # grouping or listing changed: the records mean something else
        moments = [data.get("listed_at"), data.get("full_at")]
        for moment in moments:
            if moment is not None and (isinstance(moment, bool)
                                       or not isinstance(moment, (int, float))
                                       or not math.isfinite(moment)):
                raise ValueError("a time of the snapshot is not a number")
        stored = data.get("vms")
        sent = data.get("sent")
        if not isinstance(stored, dict) or not isinstance(sent, dict):
            raise ValueError("the snapshot's records are not mappings")
        vms = {identity: Vm.from_stored(identity, values) for identity, values in stored.items()}
        for mark in sent.values():
            if not (isinstance(mark, list) and len(mark) == 2 and isinstance(mark[0], str)
                    and isinstance(mark[1], (int, float)) and not isinstance(mark[1], bool)
                    and math.isfinite(mark[1])):
                raise ValueError("a delivery mark of the snapshot is not one")
        left = data.get("left", [])
        if not isinstance(left, list) or not all(isinstance(key, str) for key in left):
            raise ValueError("the snapshot's results left are not texts")
        return cls(basis, moments[0], moments[1], vms, sent, left)


def snapshot_path(directory: str, environment: str) -> str:
    """``<directory>/<environment, reduced to safe characters>/fleet.json``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", environment).lstrip(".") or "_"
    return os.path.join(directory, safe[:80], "fleet.json")


class SnapshotFile:
    """Exclusive use of one environment's snapshot for the length of a ``with`` block."""

    def __init__(self, path: str, deadline: Deadline, margin: float = 1.0) -> None:
        self.path = path
        self.deadline = deadline
        self.margin = margin     # seconds of the deadline the run needs once it holds the lock
        self.notes: List[str] = []
        self.waited = 0.0        # seconds another run's lock was waited for
        self._lock: Optional[IO[bytes]] = None

    def __enter__(self) -> SnapshotFile:
        began = self.deadline.elapsed()
        left = [math.inf]    # what the deadline had left when the lock was last found taken

        def remaining() -> float:     # asked by hold_lock only while another run holds it
            left[0] = self.deadline.remaining()
            return left[0]

        try:
            self._lock = hold_lock(self.path, remaining, self.margin)
        except LocalFileError as exc:
            if left[0] < self.margin:
                waited = self.deadline.elapsed() - began
                raise OutOfTime(
                    f"no time left for the listing: the fleet snapshot {self.path} stayed "
                    f"locked by another run for {waited:.1f} s, {left[0]:.1f} s of the deadline "
                    f"(-t {self.deadline.timeout:g}) left, where the listing and what follows "
                    f"need {self.margin:.1f} s", elapsed=self.deadline.elapsed()) from None
            raise SnapshotError(str(exc.strerror)) from None
        if left[0] != math.inf:
            self.waited = self.deadline.elapsed() - began
            self.notes.append(f"the fleet snapshot was locked by another run: waited "
                              f"{self.waited:.1f} s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read(self, basis: str) -> Snapshot:
        """The kept snapshot; an empty one when there is none, or none usable (with a note)."""
        try:
            with os.fdopen(open_regular(self.path, os.O_RDONLY), encoding="utf-8") as handle:
                data = json.load(handle)
            return Snapshot.from_dict(data, basis)
        except FileNotFoundError:
            return Snapshot(basis)
        except OSError as exc:
            raise SnapshotError(f"fleet snapshot {self.path} cannot be read: "
                                f"{exc.strerror}") from None
        except (ValueError, RecursionError, TypeError, AttributeError):
            aside = f"{self.path}.unusable"
            try:
                os.replace(self.path, aside)
            except OSError:
                aside = "(left in place)"
            self.notes.append(f"fleet snapshot {self.path} was unusable, set aside as {aside}: "
                              "the whole fleet is listed afresh")
            return Snapshot(basis)

    def write(self, snapshot: Snapshot) -> None:
        """Replace the snapshot atomically; SIGALRM and SIGTERM wait until it is done."""
        with self.deadline.held():
            try:
                replace_file(self.path, snapshot.json_pieces())
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "a value is not finite"
                raise SnapshotError(f"fleet snapshot {self.path} cannot be written: "
                                    f"{reason}") from None
