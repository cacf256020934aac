"""check_iaso_health: is every IASO component and every service it consumes healthy?

GET the health endpoint; judge the overall status and each component. A component's severity
comes from the configuration (health_severity), so a non-critical dependency that is down can
be a WARNING instead of waking someone up.
"""
from __future__ import annotations

from typing import Iterator, List

import nagiosplugin

from libiaso.api.answers import Component, HealthReport, health_report
from libiaso.run.measurement import (
    ApiResource,
    FailureContext,
    IasoSummary,
    failure_of,
    measured,
)
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe
from libiaso.states import State

# --- acquisition -------------------------------------------------------------------------------


class Health(ApiResource):
    time_metric = "time"

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        answer = self.run.client.call("health")
        yield self.seconds("time", answer.elapsed)
        report = health_report(answer)
        total = len(report.components)
        unhealthy = len(report.unhealthy)
        yield nagiosplugin.Metric("healthy", total - unhealthy, min=0, max=total, context="count")
        yield nagiosplugin.Metric("unhealthy", unhealthy, min=0, max=total, context="count")
        for component in report.components:
            yield nagiosplugin.Metric(f"component {component.name}", component,
                                      context="component")
        if not report.overall_healthy and not unhealthy:
            yield nagiosplugin.Metric("overall", report, context="overall")


# --- evaluation --------------------------------------------------------------------------------


class ComponentContext(nagiosplugin.Context):
    """A component's state is the profile's word for its status (an unknown word is CRITICAL),
    lowered to WARNING for the components configured so in health_severity."""

    def __init__(self, severity: dict[str, str]) -> None:
        super().__init__("component")
        self.severity = severity

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        component: Component = metric.value
        state = State[component.severity.upper()]
        if state is State.CRITICAL and self.severity.get(component.name) == "warning":
            state = State.WARNING
        return nagiosplugin.Result(state.nagios, component.name, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> None:
        return None


class OverallContext(nagiosplugin.Context):
    """The API calls itself unhealthy while every component it lists is healthy."""

    def __init__(self) -> None:
        super().__init__("overall")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        report: HealthReport = metric.value
        return nagiosplugin.Result(
            State[report.overall_severity.upper()].nagios,
            f"overall status {report.overall!r} although every component is healthy", metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> None:
        return None


# --- presentation ------------------------------------------------------------------------------


class HealthSummary(IasoSummary):
    def _components(self, results: nagiosplugin.Results) -> List[nagiosplugin.Result]:
        found = [r for r in results if r.metric is not None and r.metric.context == "component"]
        return sorted(found, key=lambda r: (-int(r.state), r.metric.value.name))

    def ok_text(self, results: nagiosplugin.Results) -> str:
        count = len(self._components(results))
        return f"all {count} components healthy ({measured(results, 'time'):.3f} s)"

    def problem(self, results: nagiosplugin.Results) -> str:
        if failure_of(results) is not None:
            return super().problem(results)
        components = self._components(results)
        bad = [r for r in components if State.of(r.state) is not State.OK]
        if not bad:
            return super().problem(results)
        names = ", ".join(f"{r.metric.value.name} ({r.metric.value.status})" for r in bad)
        return f"{self.environment}: {len(bad)} of {len(components)} components unhealthy: {names}"

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        lines = []
        for result in self._components(results):
            component: Component = result.metric.value
            line = f"{str(result.state).upper()} {component.name}: {component.status}"
            if component.message:
                line += f" ({component.message})"
            lines.append(line)
        return lines


def build(run: ProbeRun) -> nagiosplugin.Check:
    return nagiosplugin.Check(
        Health(run),
        run.time_context("time"),
        nagiosplugin.ScalarContext("count"),
        ComponentContext(dict(run.environment.health_severity)),
        OverallContext(),
        FailureContext(),
        HealthSummary(run.environment.name),
    )


probe = Probe("IASO HEALTH", "check_iaso_health", build,
              help_text="Check the health of every IASO component and consumed service. "
                        "Component severities come from health_severity in the configuration; "
                        "-w/-c apply to the response time.")
main = probe.main

if __name__ == "__main__":
    main()
