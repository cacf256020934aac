"""check_iaso_fleet: has every VM had a good backup recently enough?

One collector run lists every VM and its last backup (all of them, or only what changed since
the last run), judges each against the environment's ``fleet`` thresholds, sends one passive
result per group (and per VM that is a host in the core) into the core, and reports on the
fleet as a whole: WARNING or CRITICAL when the share of VMs in a CRITICAL state passes -w or -c
(per cent; by default 1 and 5). A few stale VMs are their groups' problems; many at once are the
platform's, and page once, here (docs/probes/check_iaso_fleet.md, "States").
"""
from __future__ import annotations

import time
from typing import Iterator, List, Optional

import click
import nagiosplugin

from libiaso.fleet.collector import (
    Collector,
    CollectorOutcome,
    group_line,
    ranked,
    verdict_line,
)
from libiaso.run.measurement import (
    ApiResource,
    FailureContext,
    IasoSummary,
    QuietContext,
    failure_of,
)
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe
from libiaso.states import State

DEFAULT_WARNING = "1"    # per cent of the judged VMs CRITICAL
DEFAULT_CRITICAL = "5"
GROUPS_SHOWN = 12
VMS_SHOWN = 12

# --- acquisition -------------------------------------------------------------------------------


class Fleet(ApiResource):
    time_metric = "time"

    def __init__(self, run: ProbeRun, deliver: bool, full: bool) -> None:
        super().__init__(run)
        self.deliver = deliver
        self.full = full

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        started = time.monotonic()
        run = self.run
        outcome = Collector(run.client, run.environment, run.deadline, run.redactor,
                            deliver=self.deliver, full=self.full).run()
        fleet = outcome.judgement.fleet
        yield nagiosplugin.Metric("critical_pct", round(outcome.judgement.critical_share(), 3),
                                  "%", min=0, max=100, context="critical_pct")
        yield nagiosplugin.Metric("vms", fleet.total, min=0, context="count")
        for kind, count in fleet.counts.items():
            yield nagiosplugin.Metric(kind, count, min=0, max=fleet.total, context="count")
        groups = outcome.judgement.groups.values()
        yield nagiosplugin.Metric("groups", len(groups), min=0, context="count")
        for state in (State.CRITICAL, State.WARNING):
            yield nagiosplugin.Metric(f"groups_{state.name.lower()}",
                                      sum(1 for g in groups if g.state is state), min=0,
                                      context="count")
        collection = outcome.collection
        yield nagiosplugin.Metric("listed", collection.read, min=0, context="count")
        yield nagiosplugin.Metric("requests", collection.requests + run.client.logins, min=0,
                                  context="count")
        yield nagiosplugin.Metric("received", collection.bytes, "B", min=0, context="count")
        delivery = outcome.delivery
        yield nagiosplugin.Metric("delivered", delivery.sent, min=0, context="count")
        yield nagiosplugin.Metric("refused", delivery.refused_count, min=0, context="count")
        yield self.seconds("time", time.monotonic() - started)
        yield nagiosplugin.Metric("fleet", outcome, context="fleet")


# --- evaluation --------------------------------------------------------------------------------


class OutcomeContext(nagiosplugin.Context):
    """What is wrong beside the share of stale VMs: VMs whose data the API got wrong, results
    the core refused or took too slowly to have them all within -t, groups beyond the bound
    (WARNING); a fleet with no VM to judge, an empty listing included, says nothing (UNKNOWN,
    not OK)."""

    def __init__(self) -> None:
        super().__init__("fleet")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        outcome: CollectorOutcome = metric.value
        problems = problems_of(outcome)
        state = State.UNKNOWN if nothing_judged(outcome) else \
            State.WARNING if problems else State.OK
        return nagiosplugin.Result(state.nagios, ", ".join(problems) or None, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> None:
        return None


def nothing_judged(outcome: CollectorOutcome) -> bool:
    return outcome.judgement.fleet.judged == 0


def problems_of(outcome: CollectorOutcome) -> List[str]:
    problems = []
    if nothing_judged(outcome):
        problems.append("no VM to judge: every one is excluded or unprotected"
                        if outcome.judgement.fleet.total else
                        "the API lists no VM (a wrong tenant or account, or an empty listing)")
    invalid = outcome.judgement.fleet.counts["invalid"]
    if invalid:
        problems.append(f"{invalid} VMs with data the API got wrong (times in the future, "
                        "unusable fields)")
    delivery = outcome.delivery
    if delivery.refused_count:
        problems.append(f"{delivery.refused_count} results refused by the core (e.g. "
                        f"{delivery.refused[0][0]}: {delivery.refused[0][1]})")
    if delivery.groups_dropped:
        problems.append(f"{delivery.groups_dropped} groups beyond fleet.max_groups not "
                        "delivered")
    if delivery.left and delivery.late:
        problems.append(f"{delivery.left} results not delivered within -t, they go first next "
                        f"run: {delivery.late}")
    elif delivery.left:
        problems.append(f"{delivery.left} results not delivered this run (the core took "
                        f"them too slowly through {delivery.route}, or not at all)")
    return problems


# --- presentation ------------------------------------------------------------------------------


class FleetSummary(IasoSummary):
    def _outcome(self, results: nagiosplugin.Results) -> Optional[CollectorOutcome]:
        for result in results:
            if result.metric is not None and result.metric.name == "fleet":
                return result.metric.value
        return None

    def ok(self, results: nagiosplugin.Results) -> str:
        outcome = self._outcome(results)
        return f"{self.environment}: {sentence(outcome)}" if outcome else super().ok(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        outcome = self._outcome(results)
        if failure_of(results) is not None or outcome is None:
            return super().problem(results)
        problems = problems_of(outcome)
        return f"{self.environment}: {sentence(outcome)}" + (
            f" - {', '.join(problems)}" if problems else "")

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        outcome = self._outcome(results)
        if outcome is None:
            return []
        lines = list(outcome.notes)
        groups = ranked(outcome.judgement.groups.values())
        lines.extend(group_line(g) for g in groups[:GROUPS_SHOWN])
        if len(groups) > GROUPS_SHOWN:
            lines.append(f"... and {len(groups) - GROUPS_SHOWN} more groups")
        lines.extend(verdict_line(v) for v in outcome.judgement.fleet.worst()[:VMS_SHOWN])
        delivery = outcome.delivery
        lines.extend(f"refused by the core: {key}: {why}" for key, why in delivery.refused)
        return lines


def sentence(outcome: CollectorOutcome) -> str:
    """The fleet in one sentence: the stale share, then each class, groups and delivery."""
    judgement = outcome.judgement
    fleet = judgement.fleet
    rule = fleet.rule
    counts = fleet.counts
    parts = []
    critical = judgement.critical_vms
    if critical:
        parts.append(f"{critical} CRITICAL ({judgement.critical_share():.2f} % of "
                     f"{fleet.judged} judged)")
    for kind, words in (("critical", f"past {rule.critical_hours:g} h"),
                        ("never", "never backed up"),
                        ("warning", f"past {rule.warning_hours:g} h"),
                        ("failed", "last backup failed"),
                        ("invalid", "not judgeable")):
        if counts[kind]:
            parts.append(f"{counts[kind]} {words}")
    if parts:
        said = f"{fleet.total} VMs: " + ", ".join(parts)
    elif fleet.judged:
        said = f"{fleet.total} VMs, all {fleet.judged} judged backed up within " \
               f"{rule.warning_hours:g} h"
    else:
        said = f"{fleet.total} VMs, none judged"
    groups = judgement.groups.values()
    bad = sum(1 for g in groups if g.state is not State.OK)
    said += f" - {len(groups)} groups, {bad} with problems"
    collection = outcome.collection
    said += f" - {'full' if collection.full else 'incremental'} listing of {collection.read}"
    delivery = outcome.delivery
    if delivery.route == "none":
        said += " - no results delivered (fleet.delivery.route: none)"
    else:
        said += f" - {delivery.sent} results to the core ({delivery.route})"
    return said


def build(run: ProbeRun, full: bool = False, no_deliver: bool = False) -> nagiosplugin.Check:
    warning = run.options.warning or nagiosplugin.Range(DEFAULT_WARNING)
    critical = run.options.critical or nagiosplugin.Range(DEFAULT_CRITICAL)
    return nagiosplugin.Check(
        Fleet(run, deliver=not no_deliver, full=full),
        nagiosplugin.ScalarContext("critical_pct", warning, critical,
                                   fmt_metric="{value:.2f} % of the judged VMs CRITICAL"),
        QuietContext("count"),
        QuietContext("time"),
        OutcomeContext(),
        FailureContext(),
        FleetSummary(run.environment.name),
    )


probe = Probe(
    "IASO FLEET", "check_iaso_fleet", build,
    options=[click.option("--full", is_flag=True,
                          help="List the whole fleet even where only the changes could be "
                               "listed."),
             click.option("--no-deliver", is_flag=True,
                          help="Judge and report only: send no passive result to the core.")],
    help_text="Judge the age of every VM's last successful backup (fleet section of the "
              "configuration), send one passive result per group and per VM host to the core, "
              "and report the fleet: -w/-c apply to the per cent of judged VMs that are "
              "CRITICAL (default 1 and 5).",
    thresholds="per cent of judged VMs CRITICAL")
main = probe.main

if __name__ == "__main__":
    main()
