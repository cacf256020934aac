"""Judging every VM's last good backup, and the fleet and each group as a whole.

A VM falls in exactly one class, the first that applies:

===============  =====================================================  ===========================
class            when                                                   state
===============  =====================================================  ===========================
excluded         the API says it is excluded on purpose                 ``excluded`` severity
unprotected      the API says no plan protects it                       ``unprotected`` severity
invalid          a field is unusable, or its last (good) backup is      WARNING
                 later than now plus ``future_tolerance``
never            no successful backup ever                              ``never`` severity
critical         last good backup older than ``critical_hours``         CRITICAL
warning          last good backup older than ``warning_hours``          WARNING
failed           last backup ended with errors (the last good one is    ``failed`` severity
                 still fresh)
ok               a fresh good backup                                    OK
===============  =====================================================  ===========================

Severities are ``critical``, ``warning`` or ``ignore`` (counted, OK). A group's state is its
worst VM's; the fleet's state is decided by the probe (a share of VMs, docs/probes).
Everything kept per group and for the fleet is bounded: counts, and the worst few VMs.
"""
from __future__ import annotations

import heapq
import time
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..config.fleet_settings import FleetSettings, GroupRule
from ..states import State
from .inventory import EXCLUDED, UNPROTECTED, Vm, Vocabulary

CLASSES = ("ok", "warning", "critical", "never", "failed", "invalid", "unprotected", "excluded")
NO_GROUP = "ungrouped"
WORST_KEPT = 10
_SEVERITY = {"critical": State.CRITICAL, "warning": State.WARNING, "ignore": State.OK}
_RANK = {State.OK: 0, State.WARNING: 1, State.UNKNOWN: 2, State.CRITICAL: 3}


def rank(state: State) -> int:
    """How bad a state is, for sorting: OK 0, WARNING 1, UNKNOWN 2, CRITICAL 3."""
    return _RANK[state]


def worse(first: State, second: State) -> State:
    """The worse of two states, CRITICAL above UNKNOWN above WARNING above OK."""
    return first if _RANK[first] >= _RANK[second] else second


class Verdict(NamedTuple):
    """One VM judged: its class, its state, the age of its last good backup in seconds."""

    vm: Vm
    kind: str
    state: State
    age: Optional[float]

    def badness(self) -> Tuple[int, float]:
        """Sort key of the worst offenders: state first, then the oldest good backup (none
        at all counting as the oldest)."""
        age = float("inf") if self.age is None else self.age
        return _RANK[self.state], age


def judge(vm: Vm, rule: GroupRule, vocabulary: Vocabulary, now: float,
          future_tolerance: float) -> Verdict:
    """The class, state and age of ``vm`` at ``now`` under ``rule``."""
    if vm.protection == EXCLUDED:
        return Verdict(vm, "excluded", _SEVERITY[rule.excluded], None)
    if vm.protection == UNPROTECTED:
        return Verdict(vm, "unprotected", _SEVERITY[rule.unprotected], None)
    if vm.problem:
        return Verdict(vm, "invalid", State.WARNING, None)
    latest = max((t for t in (vm.last_success, vm.last_backup) if t is not None), default=None)
    if latest is not None and latest > now + future_tolerance:
        return Verdict(vm, "invalid", State.WARNING, now - latest)
    if vm.last_success is None:
        return Verdict(vm, "never", _SEVERITY[rule.never], None)
    age = max(0.0, now - vm.last_success)
    if age > rule.critical_hours * 3600:
        return Verdict(vm, "critical", State.CRITICAL, age)
    if age > rule.warning_hours * 3600:
        return Verdict(vm, "warning", State.WARNING, age)
    if vocabulary.failed(vm.status) and (vm.last_backup is None
                                         or vm.last_backup >= vm.last_success):
        return Verdict(vm, "failed", _SEVERITY[rule.failed], age)
    return Verdict(vm, "ok", State.OK, age)


class Tally:
    """Counts per class, the state, and the worst few VMs, of a group or of the fleet."""

    def __init__(self, name: str, rule: GroupRule, keep: int = WORST_KEPT) -> None:
        self.name = name
        self.rule = rule
        self.keep = keep
        self.counts: Dict[str, int] = dict.fromkeys(CLASSES, 0)
        self.state = State.OK
        self.total = 0
        self._worst: List[Tuple[Tuple[int, float], str, Verdict]] = []

    def add(self, verdict: Verdict) -> None:
        self.total += 1
        self.counts[verdict.kind] += 1
        self.state = worse(self.state, verdict.state)
        if verdict.state is State.OK:
            return
        entry = (verdict.badness(), verdict.vm.identity, verdict)
        if len(self._worst) < self.keep:
            heapq.heappush(self._worst, entry)
        elif entry[:2] > self._worst[0][:2]:
            heapq.heapreplace(self._worst, entry)

    @property
    def judged(self) -> int:
        """VMs whose backups are judged: all but the excluded and unprotected."""
        return self.total - self.counts["excluded"] - self.counts["unprotected"]

    def worst(self) -> List[Verdict]:
        """The worst VMs kept, worst first."""
        return [entry[2] for entry in sorted(self._worst, key=lambda e: e[:2], reverse=True)]


class Judge:
    """Judges VMs one by one into the fleet's and the groups' tallies."""

    def __init__(self, settings: FleetSettings, now: Optional[float] = None,
                 keep: int = WORST_KEPT) -> None:
        self.settings = settings
        self.vocabulary = Vocabulary(settings.words)
        self.now = time.time() if now is None else now
        self.fleet = Tally("fleet", settings.rule, keep)
        self.groups: Dict[str, Tally] = {}
        self.critical_vms = 0
        self._names: Dict[str, str] = {}

    def group_name(self, group: str) -> str:
        """The group as the core will name it: printable, none of the characters a core's
        names or formats forbid, at most 100 characters; no group is ``ungrouped``."""
        name = self._names.get(group)
        if name is None:
            name = core_safe(group, 100) or NO_GROUP
            self._names[group] = name
        return name

    def verdict(self, vm: Vm) -> Verdict:
        """``vm`` judged under its group's rule, and counted."""
        group = self.group_name(vm.group)
        tally = self.groups.get(group)
        if tally is None:
            tally = self.groups[group] = Tally(group, self.settings.rule_for(group))
        verdict = judge(vm, tally.rule, self.vocabulary, self.now,
                        self.settings.future_tolerance)
        tally.add(verdict)
        self.fleet.add(verdict)
        if verdict.state is State.CRITICAL:
            self.critical_vms += 1
        return verdict

    def report(self) -> FleetJudgement:
        return FleetJudgement(self.now, self.fleet, self.groups, self.critical_vms)


class FleetJudgement(NamedTuple):
    """The fleet judged at ``now``: the whole, and every group by its core-safe name."""

    now: float
    fleet: Tally
    groups: Mapping[str, Tally]
    critical_vms: int

    def critical_share(self) -> float:
        """Per cent of the judged VMs (all but excluded and unprotected) that are CRITICAL:
        the fleet check's own measure."""
        judged = self.fleet.judged
        return 100.0 * self.critical_vms / judged if judged else 0.0


FORBIDDEN = frozenset("`~!$%^&*|'\"<>?,()=;[]{}\\")


def core_safe(text: str, limit: int) -> str:
    """``text`` made usable as (part of) a host or service name in Nagios, Naemon and
    Icinga 2: every character those forbid, and every control or separator, becomes '_';
    spaces are collapsed; cut to ``limit`` characters."""
    cleaned = "".join("_" if c in FORBIDDEN or not c.isprintable() else c for c in text)
    cleaned = " ".join(cleaned.split())
    return cleaned[:limit].rstrip()
