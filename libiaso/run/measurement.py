"""How probes measure and judge, in nagiosplugin's Resource / Context / Summary split.

An ``ApiResource`` measures; when the API fails mid-measurement it does not raise, it yields
what it had measured so far plus a ``failure`` metric, so the failure is judged by the one state
mapping (``FailureContext`` → ``libiaso.states``) and perfdata is printed on every outcome.
``IasoSummary`` writes first lines that always name the environment.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, List, Optional

import nagiosplugin

from ..errors import ServiceError
from ..states import State, state_for

if TYPE_CHECKING:
    from .probe_run import ProbeRun

FAILURE = "failure"


class ApiResource(nagiosplugin.Resource):
    """A Resource whose API failures become a ``failure`` metric instead of an exception.

    ``time_metric`` names the metric of the one request the probe times: on a failure, the
    time until it is still reported under that name.
    """

    time_metric: Optional[str] = None

    def __init__(self, run: ProbeRun) -> None:
        self.run = run

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        raise NotImplementedError

    def seconds(self, name: str, value: float) -> nagiosplugin.Metric:
        """A time metric judged by the context of the same name, -t as its maximum."""
        return nagiosplugin.Metric(name, round(value, 6), "s", min=0,
                                   max=self.run.options.timeout, context=name)

    def metrics_on_failure(self, exc: ServiceError) -> Iterable[nagiosplugin.Metric]:
        """What was measured up to the failure; names already yielded are dropped."""
        if self.time_metric and exc.elapsed is not None:
            yield self.seconds(self.time_metric, exc.elapsed)

    def probe(self) -> List[nagiosplugin.Metric]:
        metrics: List[nagiosplugin.Metric] = []
        try:
            metrics.extend(self.measure())
        except ServiceError as exc:
            have = {m.name for m in metrics}
            metrics.extend(m for m in self.metrics_on_failure(exc) if m.name not in have)
            metrics.append(nagiosplugin.Metric(FAILURE, exc, context=FAILURE))
        return metrics


class FailureContext(nagiosplugin.Context):
    """Judges a failure metric through the one exception → state table."""

    def __init__(self) -> None:
        super().__init__(FAILURE)

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        exc = metric.value
        return nagiosplugin.Result(state_for(exc).nagios, exc.message, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                    ) -> None:
        return None


class QuietContext(nagiosplugin.ScalarContext):
    """A metric shown in perfdata (with thresholds, for graphs) but never judged."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        return nagiosplugin.Result(State.OK.nagios, None, metric)


class IasoSummary(nagiosplugin.Summary):
    """First line ``<env>: <what happened>``; subclasses say what OK looks like."""

    def __init__(self, environment: str) -> None:
        self.environment = environment

    def ok_text(self, results: nagiosplugin.Results) -> str:
        return "all checks passed"

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        return []

    def ok(self, results: nagiosplugin.Results) -> str:
        return f"{self.environment}: {self.ok_text(results)}"

    def problem(self, results: nagiosplugin.Results) -> str:
        failure = failure_of(results)
        if failure is not None:
            return f"{self.environment}: {failure.message}"
        worst = results.most_significant
        return f"{self.environment}: {', '.join(describe_result(r) for r in worst)}"

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        return self.long_lines(results)


def describe_result(result: nagiosplugin.Result) -> str:
    """``<metric as its context words it> (<hint>)``, e.g. ``response time 2.1 s (outside 0:2)``."""
    metric = result.metric
    text = metric.contextobj.describe(metric) if metric is not None and metric.contextobj else None
    if not text:
        return str(result.hint or result.state)
    return f"{text} ({result.hint})" if result.hint else text


def failure_of(results: nagiosplugin.Results) -> Optional[ServiceError]:
    for result in results:
        if result.metric is not None and result.metric.name == FAILURE:
            return result.metric.value
    return None


def measured(results: nagiosplugin.Results, name: str) -> Optional[float]:
    """The value of metric ``name`` if it was measured."""
    for result in results:
        if result.metric is not None and result.metric.name == name:
            return result.metric.value
    return None
