"""check_iaso_response_time: does the IASO API answer fast enough?

Send N requests, one after the other, to a chosen endpoint (life by default) and judge the
average response time against -w/-c. An answer that never comes within the timeout is CRITICAL,
and the time waited is still reported.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator, List

import click
import nagiosplugin

from libiaso.api.answers import verify
from libiaso.errors import ProbeUsageError, ServiceError
from libiaso.run.measurement import ApiResource, FailureContext, IasoSummary, QuietContext, measured
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe

OPTIONS = [
    click.option("-e", "--endpoint", default="life", show_default=True, metavar="ROLE",
                 help="Endpoint to time, by its role in the API profile (life, health, or any "
                      "configured endpoint that takes no parameter)."),
    click.option("-n", "--samples", type=click.IntRange(1, 100), default=1, show_default=True,
                 help="Number of requests, sent one after the other."),
    click.option("-i", "--interval", type=click.FloatRange(0, 60), default=0.0,
                 show_default=True, metavar="SECONDS", help="Pause between two requests."),
]

# --- acquisition -------------------------------------------------------------------------------


class ResponseTimes(ApiResource):
    def __init__(self, run: ProbeRun, endpoint: str, samples: int, interval: float) -> None:
        super().__init__(run)
        self.endpoint = endpoint
        self.samples = samples
        self.interval = interval
        self.times: List[float] = []

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        for index in range(self.samples):
            if index and self.interval:
                time.sleep(min(self.interval, self.run.deadline.remaining()))
            answer = self.run.client.call(self.endpoint)
            verify(answer)   # on failure its time is added once, by metrics_on_failure
            self.times.append(answer.elapsed)
        yield from self.statistics()

    def metrics_on_failure(self, exc: ServiceError) -> Iterable[nagiosplugin.Metric]:
        if exc.elapsed is not None:
            self.times.append(exc.elapsed)
        return self.statistics()

    def statistics(self) -> Iterator[nagiosplugin.Metric]:
        if not self.times:
            return
        limit = self.run.options.timeout
        average = sum(self.times) / len(self.times)
        yield nagiosplugin.Metric("time_avg", round(average, 6), "s", 0, limit, context="time")
        yield nagiosplugin.Metric("time_min", round(min(self.times), 6), "s", 0, limit,
                                  context="time_extreme")
        yield nagiosplugin.Metric("time_max", round(max(self.times), 6), "s", 0, limit,
                                  context="time_extreme")
        yield nagiosplugin.Metric("samples", len(self.times), min=0, max=self.samples,
                                  context="samples")


# --- evaluation and presentation ---------------------------------------------------------------


class ResponseTimeSummary(IasoSummary):
    def __init__(self, environment: str, endpoint: str) -> None:
        super().__init__(environment)
        self.endpoint = endpoint

    def ok_text(self, results: nagiosplugin.Results) -> str:
        count = measured(results, "samples")
        if count == 1:
            return f"{self.endpoint} answered in {measured(results, 'time_avg'):.3f} s"
        return (f"{self.endpoint} answered {count} times in {measured(results, 'time_avg'):.3f} s "
                f"on average (min {measured(results, 'time_min'):.3f}, "
                f"max {measured(results, 'time_max'):.3f})")


def build(run: ProbeRun, endpoint: str, samples: int, interval: float) -> nagiosplugin.Check:
    profile = run.environment.profile
    if endpoint not in profile.endpoints:
        raise ProbeUsageError(f"unknown endpoint {endpoint!r}; the profile has: "
                              f"{', '.join(profile.endpoints)}")
    if profile.endpoint(endpoint).parameters():
        raise ProbeUsageError(f"endpoint {endpoint!r} takes parameters and cannot be timed "
                              "on its own")
    options = run.options
    return nagiosplugin.Check(
        ResponseTimes(run, endpoint, samples, interval),
        run.time_context("time", words="average response time"),
        QuietContext("time_extreme", options.warning, options.critical),
        nagiosplugin.ScalarContext("samples"),
        FailureContext(),
        ResponseTimeSummary(run.environment.name, endpoint),
    )


probe = Probe("IASO RESPONSE TIME", "check_iaso_response_time", build, OPTIONS,
              help_text="Time N requests to one IASO endpoint; -w/-c apply to the average "
                        "response time in seconds.",
              thresholds="average response time in seconds")
main = probe.main

if __name__ == "__main__":
    main()
