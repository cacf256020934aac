"""What a stateful job check remembers between runs, and the seam where it is kept.

A round is the jobs of a target's last launch, plus the outcome of the launch before it (kept
until each new job has ended, so that a failed backup stays failed while its successor runs).
The job check reads a round at the start of a run and saves it at the end, through a
``RoundStore``: today a state file on the poller's disk (``state_file.FileRounds``); a store
that rebuilds the round from the API's own record of a host's recent jobs can take its place
without touching the check.
"""
from __future__ import annotations

from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Set, Type

from ..errors import IasoError
from .track import JobTrack


class StateFileError(IasoError):
    """The kept state is unusable (UNKNOWN: ours to fix, not the API's)."""


class JobRound:
    """The tracks of the last launch of one target, and those of the launch before."""

    def __init__(self, kind: str, target: str, identity: Sequence[str] = (),
                 tracks: Optional[List[JobTrack]] = None,
                 previous: Optional[List[JobTrack]] = None) -> None:
        self.kind = kind
        self.target = target
        self.identity = list(identity)
        self.tracks: List[JobTrack] = tracks if tracks is not None else []
        self.previous: List[JobTrack] = previous if previous is not None else []

    def start_new(self) -> None:
        """A new launch: the tracks so far become the previous outcome (if there are any)."""
        if self.tracks:
            self.previous = self.tracks
        self.tracks = []

    def settle(self) -> None:
        """Forget each previous outcome whose target has a new job that has ended."""
        ended = {t.label for t in self.tracks if t.finished}
        self.previous = [t for t in self.previous if t.label not in ended]

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "identity": self.identity,
                "tracks": [t.to_dict() for t in self.tracks],
                "previous": [t.to_dict() for t in self.previous]}

    @classmethod
    def from_dict(cls, data: Dict[str, Any], where: str, kind: str, now: float,
                  category: Callable[[Optional[str]], Optional[str]]) -> JobRound:
        """A round from a state document, every record checked; errors name ``where``."""
        def corrupt(reason: str) -> StateFileError:
            return StateFileError(f"state file {where} is corrupt ({reason}); check the job by "
                                  "hand, then delete the file to start afresh")

        if data.get("kind", kind) != kind:
            raise corrupt(f"it is a {data.get('kind')!r} state, not {kind!r}")
        lists = {}
        for name in ("tracks", "previous"):
            value = data.get(name, [])
            if not isinstance(value, list):
                raise corrupt(f"'{name}' is not a list")
            lists[name] = value
        rounds: Dict[str, List[JobTrack]] = {}
        for name, records in lists.items():
            rounds[name] = []
            for index, record in enumerate(records, 1):
                try:
                    rounds[name].append(JobTrack.from_dict(record, now, category))
                except ValueError as exc:
                    label = "job" if name == "tracks" else "previous job"
                    raise corrupt(f"{label} {index}: {exc}") from None
        identity = data.get("identity", [])
        if not isinstance(identity, list) or not all(isinstance(v, str) for v in identity):
            raise corrupt("'identity' is not a list of texts")
        target = data.get("target", "")
        return cls(kind, target if isinstance(target, str) else "", identity,
                   rounds["tracks"], rounds["previous"])


class RoundStore(Protocol):
    """Where rounds are kept: exclusive for the length of a ``with`` block."""

    def __enter__(self) -> JobRound:
        """The target's round (empty the first time), held against other runs."""

    def __exit__(self, kind: Optional[Type[BaseException]], exc: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        """Release the round."""

    def save(self, job_round: JobRound) -> None:
        """Keep ``job_round`` for the next run (whole or not at all)."""

    def claimed(self) -> Set[str]:
        """The job IDs of the last launch of the other targets of the same kind here: never to
        be adopted."""
