"""One collector run's acquisition: the fleet listing, whole or only what changed.

Where the profile's ``vm_list`` endpoint takes ``since`` and a usable snapshot exists, only the
VMs changed since the last complete listing (less ``since_overlap`` seconds, for clocks that
disagree) are asked for and laid over the snapshot; otherwise, and every
``full_resync_hours`` (a deleted VM only leaves the fleet there), the whole fleet is listed. A
listing whose pages do not add up (``ListingDefect``) is read again from the start
``restarts`` times while time remains: a live listing may move while it is paged. A reading
again that the deadline then cuts ends with the fault that made it (the listing still did not
add up), not with the time it ran out of. What is returned is always a complete listing;
anything less is an exception, never a partial fleet.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from ..api.client import IasoClient
from ..api.listing import Listing, ListingLimits
from ..config.settings import Environment
from ..errors import ApiTimeout, ListingDefect, OutOfTime
from .inventory import EntryReader, Vm, Vocabulary
from .snapshot import Snapshot


class Collection(NamedTuple):
    """The fleet as this run knows it, and how it was read."""

    vms: Dict[str, Vm]
    full: bool
    read: int                # entries read this run (all of them, or the changed ones)
    requests: int
    pages: int
    bytes: int
    started: float           # our clock when the listing that succeeded began
    notes: Tuple[str, ...]


def basis(environment: Environment) -> str:
    """What the snapshot's records mean, in short: the grouping and how entries are read.

    A change of either makes the kept records meaningless, and the next run lists afresh."""
    endpoint = environment.profile.endpoint("vm_list")
    described = json.dumps([environment.fleet.group_by, sorted(environment.fleet.words.items()),
                            endpoint.method, endpoint.path,
                            sorted((k, list(v)) for k, v in endpoint.fields.items())],
                           default=str, sort_keys=True)
    return hashlib.sha256(described.encode("utf-8")).hexdigest()[:16]


def incremental_since(environment: Environment, snapshot: Snapshot, now: float
                      ) -> Optional[float]:
    """The ``since`` of an incremental listing, or None when the fleet must be listed whole."""
    settings = environment.fleet
    endpoint = environment.profile.endpoint("vm_list")
    if "since" not in endpoint.parameters() or not snapshot.vms:
        return None
    if snapshot.listed_at is None or snapshot.full_at is None:
        return None
    if now - snapshot.full_at >= settings.full_resync_hours * 3600 or snapshot.listed_at > now \
            or snapshot.full_at > now:
        return None     # due, or kept under a clock that was ahead: list the fleet whole
    return max(0.0, snapshot.listed_at - settings.since_overlap)


def collect(client: IasoClient, environment: Environment, snapshot: Snapshot, *, now: float,
            cutoff: float, clock: Callable[[], float] = time.monotonic,
            wall: Callable[[], float] = time.time) -> Collection:
    """The fleet, listed whole or laid over ``snapshot``; ``cutoff`` (monotonic) bounds it."""
    settings = environment.fleet
    endpoint = environment.profile.endpoint("vm_list")
    since = incremental_since(environment, snapshot, now)
    params = {}
    if "since" in endpoint.parameters():
        params["since"] = "" if since is None else str(int(since))
    reader = EntryReader(endpoint, settings.group_by, Vocabulary(settings.words))
    limits = ListingLimits(max_entries=settings.max_vms, max_bytes=settings.max_listing_bytes,
                           cutoff=cutoff)
    notes: List[str] = []
    requests = 0
    attempt = 0
    fault: Optional[ListingDefect] = None    # what made the listing be read again
    while True:
        attempt += 1
        started = wall()
        began = clock()
        listing = Listing(client.streamed, endpoint, params, limits, clock)
        fresh: Dict[str, Vm] = {}
        try:
            for entry in listing.entries():
                fresh[entry.identity] = reader.vm(entry.identity, entry.item, listing.url)
        except ListingDefect as defect:
            requests += listing.progress.requests
            if attempt > settings.restarts or clock() + (clock() - began) > cutoff:
                raise   # no restart left, or no time for one more listing as long
            notes.append(f"listing read again from the start: {defect.message}")
            fault = defect
            continue
        except (ApiTimeout, OutOfTime) as exc:
            if fault is None:
                raise
            raise ListingDefect(f"{fault.message}; read again from the start, that reading "
                                f"stopped after {listing.progress.shown()}: {exc.message}",
                                received=fault.received, total=fault.total, url=fault.url,
                                elapsed=exc.elapsed) from None
        requests += listing.progress.requests
        break
    if since is None:
        vms = fresh
    else:
        vms = dict(snapshot.vms)
        vms.update(fresh)
    progress = listing.progress
    return Collection(vms=vms, full=since is None, read=len(fresh), requests=requests,
                      pages=progress.pages, bytes=progress.bytes, started=started,
                      notes=tuple(notes))
