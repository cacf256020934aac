"""The passive results the collector hands to the core: one per group, one per VM host.

A group's result says how many of its VMs are past each threshold, names the worst few, and
carries its counts as perfdata: one service per group, so a bad night is a handful of
problems, not one per VM. A VM's result (for the VMs that are hosts in the core) says the age of
its last good backup, so the VM's own page shows it; those are sent when they change and again
every ``refresh_minutes``, not at every run.

Every text is made safe here, once, for every route: one line per line, no control characters,
no '|' outside the perfdata, bounded. What a route's own format adds (escaping newlines and
backslashes, no ';' in a command) is the route's business (delivery.py).
"""
from __future__ import annotations

import time
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from ..config.fleet_settings import GroupRule
from ..run.output import clean_text
from ..states import State
from .freshness import CLASSES, Tally, Verdict

GROUP_TITLE = "IASO FLEET"
VM_TITLE = "IASO BACKUP FRESHNESS"
FIRST_LINE_LIMIT = 300
LONG_LINE_LIMIT = 200
LONG_LINES = 10
_KIND_WORDS = {
    "critical": "past {critical} h", "warning": "past {warning} h",
    "never": "never backed up", "failed": "last backup failed",
    "invalid": "not judgeable (API data wrong)", "unprotected": "unprotected",
    "excluded": "excluded",
}


class PassiveResult(NamedTuple):
    """One result for one service of the core; texts already clean (see the module)."""

    host: str
    service: str
    state: State
    output: str                      # the first line, without perfdata
    perfdata: Tuple[str, ...] = ()
    long: Tuple[str, ...] = ()
    key: str = ""                    # the snapshot's delivery key (VM results only)
    mark: str = ""                   # what the result says, in short (VM results only)

    def plugin_output(self) -> str:
        """The result as a plugin prints it: first line, '|', perfdata, long output lines."""
        first = self.output + (" | " + " ".join(self.perfdata) if self.perfdata else "")
        return "\n".join((first, *self.long))


def age_words(seconds: Optional[float]) -> str:
    """An age for a person: minutes below 2 h, hours below 3 days, days beyond."""
    if seconds is None:
        return "never"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 3 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d {int(seconds % 86400 // 3600)} h"


def moment_words(epoch: Optional[float]) -> str:
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def vm_line(verdict: Verdict) -> str:
    """One VM's verdict in words, for long output and for its own result."""
    vm = verdict.vm
    if verdict.kind == "excluded":
        said = "excluded from backups on purpose"
    elif verdict.kind == "unprotected":
        said = "not protected by any backup plan"
    elif verdict.kind == "invalid" and vm.problem:
        said = f"cannot be judged: {vm.problem}"
    elif verdict.kind == "invalid":
        said = (f"last backup time {age_words(-(verdict.age or 0))} in the future "
                f"({moment_words(max(t for t in (vm.last_success, vm.last_backup) if t))}): "
                "the API's clock or data is wrong")
    elif verdict.kind == "never":
        said = "never backed up successfully"
    else:
        said = (f"last good backup {age_words(verdict.age)} ago "
                f"({moment_words(vm.last_success)})")
    if vm.status and (vm.reason or verdict.kind == "failed") and \
            verdict.kind not in ("excluded", "unprotected", "ok"):
        said += f", last backup {vm.status}" + (f": {vm.reason}" if vm.reason else "")
    return said


def core_text(text: str, limit: int) -> str:
    """A text for a passive result: one clean line (run.output's rules) without ';', which
    Nagios turns into ':' and its command file reads as a separator."""
    return clean_text(text.replace(";", ","), limit)


def _counts_text(tally: Tally, rule: GroupRule) -> str:
    parts = []
    for kind in ("critical", "warning", "never", "failed", "invalid"):
        count = tally.counts[kind]
        if count:
            words = _KIND_WORDS[kind].format(critical=f"{rule.critical_hours:g}",
                                             warning=f"{rule.warning_hours:g}")
            parts.append(f"{count} {words}")
    return ", ".join(parts)


def perfdata_of(tally: Tally, rule: GroupRule) -> Tuple[str, ...]:
    """Counts per class: bounded, the same labels whatever the group."""
    total = tally.total
    counts = (f"'{kind}'={tally.counts[kind]};;;0;{total}" for kind in CLASSES)
    return (*counts, f"'vms'={total};;;0")


def group_result(tally: Tally, environment: str, host: str, prefix: str) -> PassiveResult:
    """The aggregate result of one group."""
    rule = tally.rule
    counts = _counts_text(tally, rule)
    judged = tally.judged
    fresh = tally.counts["ok"]
    if tally.state is State.OK:
        said = (f"all {judged} judged VMs backed up within {rule.warning_hours:g} h"
                if not counts else f"{counts} - {fresh} of {judged} fresh")
    else:
        said = f"{counts} - {fresh} of {judged} VMs fresh"
    aside = [f"{tally.counts[k]} {k}" for k in ("excluded", "unprotected") if tally.counts[k]]
    if aside:
        said += f" ({', '.join(aside)})"
    first = core_text(f"{GROUP_TITLE} {tally.state.name} - {environment} {tally.name}: {said}",
                      FIRST_LINE_LIMIT)
    long = tuple(core_text(f"{v.state.name} {v.vm.name}: {vm_line(v)}", LONG_LINE_LIMIT)
                 for v in tally.worst()[:LONG_LINES])
    return PassiveResult(host, prefix + tally.name, tally.state, first,
                         perfdata_of(tally, rule), long)


def vm_result(verdict: Verdict, host: str, service: str, rule: GroupRule) -> PassiveResult:
    """The result of one VM that is a host in the core."""
    first = core_text(f"{VM_TITLE} {verdict.state.name} - {verdict.vm.name}: "
                      f"{vm_line(verdict)}", FIRST_LINE_LIMIT)
    perfdata: Tuple[str, ...] = ()
    if verdict.age is not None and verdict.age >= 0:
        perfdata = (f"'age'={int(verdict.age)}s;{int(rule.warning_hours * 3600)};"
                    f"{int(rule.critical_hours * 3600)};0",)
    mark = f"{verdict.state.value}:{verdict.kind}:{int(verdict.vm.last_success or 0)}:" \
           f"{verdict.vm.status[:40]}"
    return PassiveResult(host, service, verdict.state, first, perfdata, (),
                         key=f"{host}!{service}", mark=mark)


class Refresh:
    """Which VM results are due: changed since last delivered, or delivered too long ago."""

    def __init__(self, sent: Dict[str, List[object]], minutes: float, now: float) -> None:
        self.sent = sent
        self.period = minutes * 60
        self.now = now

    def due(self, result: PassiveResult) -> bool:
        last = self.sent.get(result.key)
        if last is None or last[0] != result.mark:
            return True
        since = self.now - float(last[1])  # type: ignore[arg-type]
        return since >= self.period or since < 0   # sent under a clock that was ahead

    def delivered(self, results: Iterable[PassiveResult]) -> None:
        for result in results:
            if result.key:
                self.sent[result.key] = [result.mark, self.now]

    def forget_except(self, keys: Sequence[str]) -> int:
        """Drop the marks of results no longer sent (a host gone from the core); how many."""
        keep = set(keys)
        gone = [key for key in self.sent if key not in keep]
        for key in gone:
            del self.sent[key]
        return len(gone)
