"""The simulated fleet: every VM and its last backup, computed from a seed, never stored.

A VM is a pure function of (seed, index, start, now): its class (backed up as planned, failing,
stale, never backed up, excluded), group, plan, company, identifiers and backup history. So
50,000 or 100,000 VMs cost no memory until listed, the same scenario gives the same fleet, and
time passes: backups recur every ``backup_interval_hours`` at each VM's own phase, so a VM's
last backup moves with the clock and "changed since" means what it says.

Classes are exact counts (a share of 0.05 of 1,000 VMs is 50 VMs), spread over the indices by
a seeded affine permutation.
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .scenario import InventorySpec

MASK = (1 << 64) - 1
HOUR = 3600.0
HEALTHY, FAILED, STALE, NEVER, EXCLUDED, FUTURE = (
    "healthy", "failed", "stale", "never", "excluded", "future")

FAILURES = (   # (Commvault's JobStatus word, failure reason) of a failed last backup
    ("FAILED", "Unable to quiesce the guest file system of the VM"),
    ("FAILED", "The snapshot of the VM could not be created: the datastore is out of space"),
    ("FAILED", "The MediaAgent could not be reached"),
    ("KILLED", "The job was killed by the administrator"),
    ("FAILED_TO_START", "The VM was not found on the hypervisor"),
)
OPERATING_SYSTEMS = ("Linux", "Linux", "Windows")


def mix(value: int) -> int:
    """SplitMix64: one 64-bit step, enough to draw independent-looking bits from an index."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def fraction(bits: int) -> float:
    """A number in [0, 1) from the low 24 bits."""
    return (bits & 0xFFFFFF) / float(1 << 24)


class Vm(NamedTuple):
    """One VM as both contracts describe it (times in epoch seconds, None when none)."""

    number: int
    name: str
    uuid: str
    kind: str
    group: int
    plan: int
    company: int
    host: int
    os: str
    size: int
    last_time: Optional[int]
    last_success: Optional[int]
    last_status: str            # Commvault's JobStatus words (NEVER_BACKED_UP, COMPLETED, ...)
    job_id: Optional[int]
    failure_reason: Optional[str]
    changed: int                # when the VM last changed: its last backup, or its discovery


class Fleet:
    """The seeded fleet of one scenario."""

    def __init__(self, spec: InventorySpec) -> None:
        self.spec = spec
        self.size = spec.size
        self.key = mix(spec.seed * 0x100000001B3 + 0x5EED)
        self.interval = spec.backup_interval_hours * HOUR
        self.multiplier, self.offset = self._permutation()
        counts = [spec.count(share) for share in ("failed", "stale", "never", "excluded")]
        self.bounds: List[Tuple[int, str]] = []
        edge = 0
        for count, kind in zip(counts, (FAILED, STALE, NEVER, EXCLUDED)):
            edge += count
            self.bounds.append((edge, kind))
        self.future_from = self.size - spec.faults.future   # ranks from here: in the future

    def _permutation(self) -> Tuple[int, int]:
        if self.size <= 1:
            return 1, 0
        multiplier = int(self.size * 0.6180339887) + mix(self.key) % 97
        while math.gcd(multiplier, self.size) != 1:
            multiplier += 1
        return multiplier % self.size or 1, mix(self.key ^ 1) % self.size

    def kind(self, index: int) -> str:
        rank = (index * self.multiplier + self.offset) % self.size
        for edge, kind in self.bounds:
            if rank < edge:
                return kind
        return FUTURE if rank >= self.future_from else HEALTHY

    def last_scheduled(self, phase: float, moment: float) -> float:
        """The last planned backup time at or before ``moment`` for a VM of this ``phase``."""
        return math.floor((moment - phase) / self.interval) * self.interval + phase

    def vm(self, index: int, now: float) -> Vm:
        """VM ``index`` as it stands at ``now``."""
        first = mix(self.key ^ index)
        second = mix(first)
        third = mix(second)
        spec = self.spec
        kind = self.kind(index)
        phase = fraction(first) * self.interval
        group = (first >> 24) % spec.groups
        start = spec.start
        last_time: Optional[float]
        success: Optional[float]
        reason = None
        status = "COMPLETED"
        if kind == HEALTHY:
            last_time = success = self.last_scheduled(phase, now)
        elif kind == FUTURE:
            last_time = success = now + HOUR * (1 + 47 * fraction(third >> 40))
        elif kind == FAILED:
            last_time = self.last_scheduled(phase, max(now, start))
            success = self.last_scheduled(phase, start) - self.interval * (1 + (third >> 60) % 2)
            status, reason = FAILURES[(third >> 48) % len(FAILURES)]
        elif kind == STALE:
            stopped = start - spec.stale_hours * HOUR * (1 + fraction(third >> 40))
            last_time = success = self.last_scheduled(phase, stopped)
        elif kind == EXCLUDED:
            stopped = start - self.interval - 30 * 24 * HOUR * fraction(third >> 40)
            last_time = success = self.last_scheduled(phase, stopped)
        else:   # never backed up: discovered during the last interval before start
            last_time = success = None
            status = "NEVER_BACKED_UP"
        changed = last_time if last_time is not None else start - fraction(third >> 40) * \
            self.interval
        uuid_bits = f"{second:016x}{third:016x}"
        return Vm(
            number=index, name=f"vm-{index:06d}",
            uuid="-".join((uuid_bits[:8], uuid_bits[8:12], "4" + uuid_bits[13:16],
                           "a" + uuid_bits[17:20], uuid_bits[20:32])),
            kind=kind, group=group, plan=group % spec.plans, company=group % spec.companies,
            host=(second >> 8) % 16, os=OPERATING_SYSTEMS[(second >> 4) % 3],
            size=(8 + (second >> 32) % 1017) * 1024 ** 3 // 8,
            last_time=None if last_time is None else int(last_time),
            last_success=None if success is None else int(success),
            last_status=status, job_id=None if last_time is None else 100000 + (
                int(last_time) // 60 + index) % 900000,
            failure_reason=reason, changed=int(changed))

    def changed_since(self, since: float, now: float) -> array[int]:
        """Indices of the VMs changed at or after ``since``, in index order."""
        selected = array("l")
        for index in range(self.size):
            if self.vm(index, now).changed >= since:
                selected.append(index)
        return selected


class Listing:
    """The order in which the VMs of one answer are listed, with the duplicates fault.

    ``duplicates`` VMs of the first half of the selection are listed a second time in its second
    half, so that a collector paging through meets them on another page.
    """

    def __init__(self, selected: Sequence[int], duplicates: int) -> None:
        self.selected = selected
        count = len(selected)
        inserts = []
        for number in range(duplicates if count else 0):
            repeated = (number * max(count // 2, 1)) // max(duplicates, 1) % count
            after = min(count - 1, repeated + count // 2)
            inserts.append((after, repeated))
        inserts.sort()
        # Position in the listing of each inserted entry, and which selected VM it repeats.
        self.extra_positions: List[int] = [after + 1 + n for n, (after, _) in enumerate(inserts)]
        self.extra_vms: List[int] = [selected[repeated] for _, repeated in inserts]

    def __len__(self) -> int:
        return len(self.selected) + len(self.extra_positions)

    def at(self, position: int) -> int:
        inserted = bisect_right(self.extra_positions, position)
        if inserted and self.extra_positions[inserted - 1] == position:
            return self.extra_vms[inserted - 1]
        return self.selected[position - inserted]

    def span(self, start: int, stop: int) -> Iterator[int]:
        for position in range(max(start, 0), min(stop, len(self))):
            yield self.at(position)


class Page(NamedTuple):
    """The VMs one listing answer holds, and what it says of the whole."""

    fleet: Fleet
    listing: Listing
    start: int
    stop: int
    total: int
    cut_after: Optional[int]   # the connection closes after this many VMs
    now: float

    def vms(self, shape: Callable[[Vm], Any]) -> Iterator[Any]:
        """Each VM of the page in the contract's ``shape``, made as it is written."""
        fleet, now = self.fleet, self.now
        return (shape(fleet.vm(index, now)) for index in self.listing.span(self.start,
                                                                            self.stop))
