"""check_iaso_health: is every IASO component and every service it consumes healthy?

GET the health endpoint; judge the overall status and each component. A component's severity
comes from the configuration (health_severity), so a non-critical dependency that is down can
be a WARNING instead of waking someone up.
"""
from __future__ import annotations

from typing import Any, Iterator, List, NamedTuple, Optional

import nagiosplugin
from nagiosplugin.state import Critical, Ok, Warn

from libiaso.answers import verify
from libiaso.client import Answer
from libiaso.errors import WrongType
from libiaso.measurement import ApiResource, FailureContext, IasoSummary, failure_of, measured
from libiaso.profile import field
from libiaso.runner import Probe, ProbeRun

# --- acquisition -------------------------------------------------------------------------------


class Component(NamedTuple):
    name: str
    status: str
    healthy: bool
    message: Optional[str] = None


class Health(ApiResource):
    time_metric = "time"

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        answer = self.run.client.call("health")
        yield self.seconds("time", answer.elapsed)
        components = list(self.components(answer))
        unhealthy = sum(1 for c in components if not c.healthy)
        yield nagiosplugin.Metric("healthy", len(components) - unhealthy, min=0,
                                  max=len(components), context="count")
        yield nagiosplugin.Metric("unhealthy", unhealthy, min=0, max=len(components),
                                  context="count")
        for component in components:
            yield nagiosplugin.Metric(f"component {component.name}", component,
                                      context="component")
        overall = answer.field("overall", "str", required=False)
        if overall is not None and overall not in self.run.environment.profile.healthy_values \
                and not unhealthy:
            yield nagiosplugin.Metric("overall", overall, context="overall")

    def components(self, answer: Answer) -> Iterator[Component]:
        healthy_values = self.run.environment.profile.healthy_values
        verify(answer)
        raw = answer.field("components", "components")
        entries = raw.items() if isinstance(raw, dict) else ((None, item) for item in raw)
        for index, (key, item) in enumerate(entries):
            name, status, message = self._component_fields(answer, key, item, index)
            yield Component(name, status, status in healthy_values, message)

    @staticmethod
    def _component_fields(answer: Answer, key: Optional[str], item: Any, index: int
                          ) -> tuple[str, str, Optional[str]]:
        endpoint = answer.endpoint
        where = endpoint.field_path("components") + (f".{key}" if key else f".{index}")
        if key is not None and isinstance(item, str):
            return key, item, None
        if not isinstance(item, dict):
            raise WrongType(f"component {where} should be an object", field=where, url=answer.url)
        name = key if key is not None else field(item, endpoint.field_path("component_name"),
                                                 "str", url=answer.url)
        status = field(item, endpoint.field_path("component_status"), "str", url=answer.url)
        message = field(item, endpoint.field_path("component_message"), "str", required=False)
        return name, status, message


# --- evaluation --------------------------------------------------------------------------------


class ComponentContext(nagiosplugin.Context):
    """A component is OK when healthy, else WARNING or CRITICAL as configured for its name."""

    def __init__(self, severity: dict[str, str]) -> None:
        super().__init__("component")
        self.severity = severity

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        component: Component = metric.value
        if component.healthy:
            return nagiosplugin.Result(Ok, component.name, metric)
        state = Warn if self.severity.get(component.name) == "warning" else Critical
        return nagiosplugin.Result(state, component.name, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> None:
        return None


class OverallContext(nagiosplugin.Context):
    """The API calls itself unhealthy while every component it lists is healthy."""

    def __init__(self) -> None:
        super().__init__("overall")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        return nagiosplugin.Result(
            Critical, f"overall status {metric.value!r} although every component is healthy",
            metric)

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
        bad = [r for r in components if r.state != Ok]
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
