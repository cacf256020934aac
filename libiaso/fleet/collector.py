"""One run of the fleet collector: list, judge, deliver, keep.

The order matters. The listing comes first and must be complete (collection.py) or nothing
else happens: no judgement of a partial fleet, no result delivered, the snapshot untouched. The
whole fleet is then judged (every VM, also those the listing did not return this time: they grow
older); one result per group, and one per VM that is a host in the core when that result is
due, go to the core; the snapshot keeps the fleet and what was delivered. A part of the deadline
is kept back from the listing for the delivery.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ..api.client import IasoClient
from ..config.settings import Environment
from ..deadline import Deadline
from ..errors import ApiTimeout, ConfigError, OutOfTime
from ..redaction import Redactor
from .collection import Collection, basis, collect
from .core_hosts import CoreHosts
from .delivery import Delivered, Route, given_its_time, route_of, time_needed
from .freshness import FleetJudgement, Judge, Tally, Verdict, rank
from .passive import PassiveResult, Refresh, group_result, vm_line, vm_result
from .snapshot import SnapshotFile, snapshot_path


class Delivery(NamedTuple):
    """What became of this run's passive results."""

    route: str
    groups: int            # group results made
    vms: int               # VM results due (and made)
    sent: int
    refused: Tuple[Tuple[str, str], ...]   # (host!service, reason), a few
    refused_count: int
    left: int
    groups_dropped: int    # groups beyond fleet.max_groups, not delivered
    late: str = ""         # why results were left: the delivery began without its time


class CollectorOutcome(NamedTuple):
    collection: Collection
    judgement: FleetJudgement
    delivery: Delivery
    notes: Tuple[str, ...]


class Collector:
    """The fleet check's work for one environment, with injectable clocks."""

    def __init__(self, client: IasoClient, environment: Environment, deadline: Deadline,
                 redactor: Redactor, *, deliver: bool = True, full: bool = False,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.environment = environment
        self.deadline = deadline
        self.redactor = redactor
        self.deliver = deliver
        self.full = full
        self.wall = wall
        self.monotonic = monotonic

    def run(self) -> CollectorOutcome:
        env = self.environment
        if "vm_list" not in env.profile.endpoints:
            raise ConfigError("the profile has no vm_list endpoint: configure the API's VM "
                              "listing (docs/configuration.md, the API profile)",
                              path=env.config_path,
                              key=f"environments.{env.name}.profile")
        settings = env.fleet
        delivery = settings.delivery
        route = route_of(delivery, self.redactor) if self.deliver else None
        hosts = CoreHosts.load(delivery.per_vm) if route and delivery.per_vm else None
        notes: List[str] = []
        if hosts is not None and hosts.skipped:
            notes.append(f"{hosts.skipped} host names of the core skipped: not usable as names")
        path = snapshot_path(settings.state_dir, env.name)
        share = self.deadline.fair_share()
        least = 0.5 if route is None else time_needed(route, self.deadline)
        late = ""
        with SnapshotFile(path, self.deadline, margin=share + least) as kept:
            snapshot = kept.read(basis(env))
            notes.extend(kept.notes)
            if self.full:
                snapshot.listed_at = snapshot.full_at = None
            now = self.wall()
            remaining = self.deadline.remaining()
            reserve = least if route is None else max(least, 0.25 * remaining)
            if remaining - reserve < share:
                raise OutOfTime(self._no_time_to_list(kept, remaining, reserve, route),
                                elapsed=self.deadline.elapsed())
            spent, began = self.deadline.elapsed(), self.monotonic()
            cutoff = began + (remaining - reserve)
            try:
                collection = collect(self.client, env, snapshot, now=now, cutoff=cutoff,
                                     clock=self.monotonic, wall=self.wall)
            except ApiTimeout as exc:
                ran = self.monotonic() - began
                if ran >= self.deadline.budget / 2:
                    raise      # half of -t at least: a listing that slow is the API's
                raise OutOfTime(self._listing_cut_short(kept, ran, spent, exc),
                                elapsed=self.deadline.elapsed()) from None
            notes.extend(collection.notes)
            now = self.wall()
            refresh = Refresh(snapshot.sent, delivery.per_vm.refresh_minutes, now) \
                if delivery.per_vm else None
            judge, vm_results, vm_keys = self._judged(collection, now, hosts, refresh)
            judgement = judge.report()
            groups = ranked(judgement.groups.values())
            kept_groups = groups[:settings.max_groups]
            host = delivery.host_for(env.name)
            group_results = [group_result(tally, env.name, host, delivery.service_prefix)
                             for tally in kept_groups]
            delivered = Delivered([], [], [])
            if route is not None:
                first = set(snapshot.left)      # a core too slow for all: no tail left for ever
                ordered = sorted(group_results + vm_results,
                                 key=lambda r: f"{r.host}!{r.service}" not in first)
                given = self.deadline.remaining()
                delivered = route.deliver(ordered, self.deadline, now)
                snapshot.left = [f"{r.host}!{r.service}" for r in delivered.left]
                if delivered.left and not given_its_time(route, self.deadline, given):
                    late = self._no_time_to_deliver(route, given)
            if refresh is not None and hosts is not None:
                refresh.delivered(r for r in delivered.sent if r.key)
                refresh.forget_except(vm_keys)
            if collection.vms or not snapshot.vms:
                snapshot.vms = collection.vms
                snapshot.listed_at = collection.started
                if collection.full:
                    snapshot.full_at = collection.started
                kept.write(snapshot)
            else:
                notes.append(f"the API listed no VM where the last listing had "
                             f"{len(snapshot.vms)}: the snapshot is kept")
        outcome = Delivery(
            route=route.name if route is not None else "none", groups=len(group_results),
            vms=len(vm_results), sent=len(delivered.sent),
            refused=tuple((f"{r.host}!{r.service}", why) for r, why in delivered.refused[:5]),
            refused_count=len(delivered.refused), left=len(delivered.left),
            groups_dropped=len(groups) - len(kept_groups), late=late)
        return CollectorOutcome(collection, judgement, outcome, tuple(notes))

    def _no_time_to_list(self, kept: SnapshotFile, remaining: float, reserve: float,
                         route: Optional[Route]) -> str:
        deadline = self.deadline
        before = (f"the fleet snapshot was locked by another run for {kept.waited:.1f} s"
                  if kept.waited else f"earlier steps took {deadline.elapsed():.1f} s")
        after = f"the delivery ({route.name})" if route is not None else "the report"
        return (f"no time left for the listing: {before}, {remaining:.1f} s of the deadline "
                f"(-t {deadline.timeout:g}) left, {reserve:.1f} s of it kept for {after}, "
                f"where the listing needs at least {deadline.fair_share():.1f} s")

    def _no_time_to_deliver(self, route: Route, given: float) -> str:
        deadline = self.deadline
        return (f"the delivery ({route.name}) began with {given:.1f} s of the deadline (-t "
                f"{deadline.timeout:g}) left, after {deadline.budget - given:.1f} s of listing "
                f"and judging, where it needs {time_needed(route, deadline):.1f} s: raise -t")

    def _listing_cut_short(self, kept: SnapshotFile, ran: float, spent: float,
                           exc: ApiTimeout) -> str:
        deadline = self.deadline
        before = (f"the fleet snapshot was locked by another run for {kept.waited:.1f} s"
                  if kept.waited else f"earlier steps took {spent:.1f} s")
        return (f"{exc.message}; it ran {ran:.1f} s of the deadline (-t "
                f"{deadline.timeout:g}), less than half, as {before}")

    def _judged(self, collection: Collection, now: float, hosts: Optional[CoreHosts],
                refresh: Optional[Refresh]) -> Tuple[Judge, List[PassiveResult], List[str]]:
        """Every VM judged; the results due for the VMs that are hosts in the core, and the
        keys of all of those (due or not)."""
        judge = Judge(self.environment.fleet, now)
        per_vm = self.environment.fleet.delivery.per_vm
        results: List[PassiveResult] = []
        for vm in collection.vms.values():
            verdict = judge.verdict(vm)
            if hosts is None or per_vm is None or refresh is None:
                continue
            host = hosts.host_of(vm.name, per_vm.match)
            if host:
                results.append(vm_result(verdict, host, per_vm.service,
                                         judge.groups[judge.group_name(vm.group)].rule))
        merged = _one_per_key(results)     # before "due": one mark per service of the core
        due = [r for r in merged if refresh is not None and refresh.due(r)]
        return judge, due, [r.key for r in merged]


def ranked(tallies: Iterable[Tally]) -> List[Tally]:
    """Groups worst first: state, then how many VMs are not fresh, then name."""
    return sorted(tallies, key=lambda t: (-rank(t.state), -(t.total - t.counts["ok"]), t.name))


def _one_per_key(results: List[PassiveResult]) -> List[PassiveResult]:
    """One result per core service: two VMs of the same host name keep the worse."""
    chosen: Dict[str, PassiveResult] = {}
    for result in results:
        held = chosen.get(result.key)
        if held is None or rank(result.state) > rank(held.state):
            chosen[result.key] = result
    return list(chosen.values())


def verdict_line(verdict: Verdict) -> str:
    group = f" ({verdict.vm.group})" if verdict.vm.group else ""
    return f"{verdict.state.name} {verdict.vm.name}{group}: {vm_line(verdict)}"


def group_line(tally: Tally) -> str:
    counts = ", ".join(f"{count} {kind}" for kind, count in tally.counts.items()
                       if count and kind != "ok")
    return (f"{tally.state.name} group {tally.name}: {tally.counts['ok']} of {tally.judged} "
            "judged VMs fresh" + (f": {counts}" if counts else ""))


