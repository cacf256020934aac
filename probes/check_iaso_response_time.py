"""check_iaso_response_time: does the IASO API answer fast enough?

Send N requests, one after the other, to a chosen endpoint (life by default) and judge the
average response time against -w/-c. An answer that never comes within the timeout is CRITICAL,
and the time waited is still reported.

All N samples share the probe's -t. A sample is only started when the time left can hold it: the
pause, then the time its cut would count against the API (twice the slowest answer so far, at
least the deadline's fair share, at most half the budget), so a sample started and cut is the
API's failure (CRITICAL). A sample not started, or cut though sent with less (``OutOfTime``, a
race), is not a sample: it is never averaged in, the samples taken are judged, and the output
says "k of N samples within -t". The shortfall alone never changes the state the thresholds
give; with no sample complete at all, the failure of the first decides.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator, List, Optional

import click
import nagiosplugin

from libiaso.api.answers import verify
from libiaso.deadline import DeadlineReached
from libiaso.errors import OutOfTime, ProbeUsageError, ServiceError
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
    def __init__(self, run: ProbeRun, endpoint: str, samples: int, interval: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(run)
        self.endpoint = endpoint
        self.samples = samples
        self.interval = interval
        self.sleep = sleep
        self.times: List[float] = []
        self.shortfall: Optional[str] = None   # why fewer than -n samples fitted in -t

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        for index in range(self.samples):
            pause = self.interval if index else 0.0
            left, needed = self.run.deadline.remaining(), self.needed(pause)
            if left < needed:
                if not self.times:
                    raise OutOfTime(f"no time left for a sample of {self.endpoint}: {left:.2f} s "
                                    f"of the probe's deadline (-t {self.run.options.timeout:g}) "
                                    f"left, a sample needs {needed:.2f} s",
                                    elapsed=self.run.deadline.elapsed())
                self.shortfall = (f"sample {index + 1} not sent: {left:.2f} s of the probe's "
                                  f"time left, a sample needs {needed:.2f} s")
                break
            try:
                if pause:
                    self.sleep(pause)
                answer = self.run.client.call(self.endpoint)
                verify(answer)   # on failure its time is added once, by metrics_on_failure
            except (OutOfTime, DeadlineReached) as exc:
                # Cut by the probe's own deadline, not given a fair share: not a sample.
                if not self.times:
                    raise
                self.shortfall = (f"sample {index + 1} cut by the probe's deadline, not "
                                  f"counted: {exc.message}")
                break
            self.times.append(answer.elapsed)
        yield from self.statistics()

    def needed(self, pause: float) -> float:
        """Seconds a sample needs before it is started: the pause, then the time its cut would
        count against the API (the client's fair share: twice the slowest answer so far, at
        least the deadline's share, at most half the budget). A sample is never sent only to
        be cut and thrown away."""
        return pause + self.run.client.fair_share()

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
    def __init__(self, environment: str, endpoint: str,
                 resource: Optional[ResponseTimes] = None) -> None:
        super().__init__(environment)
        self.endpoint = endpoint
        self.resource = resource

    def ok_text(self, results: nagiosplugin.Results) -> str:
        count = measured(results, "samples")
        if count == 1:
            text = f"{self.endpoint} answered in {measured(results, 'time_avg'):.3f} s"
        else:
            text = (f"{self.endpoint} answered {count} times in "
                    f"{measured(results, 'time_avg'):.3f} s on average "
                    f"(min {measured(results, 'time_min'):.3f}, "
                    f"max {measured(results, 'time_max'):.3f})")
        return text + self.short_text()

    def problem(self, results: nagiosplugin.Results) -> str:
        return super().problem(results) + self.short_text()

    def short_text(self) -> str:
        """``; k of N samples within -t T`` when the deadline left room for fewer than -n."""
        resource = self.resource
        if resource is None or resource.shortfall is None:
            return ""
        return (f"; {len(resource.times)} of {resource.samples} samples within "
                f"-t {resource.run.options.timeout:g}")

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        resource = self.resource
        if resource is None or resource.shortfall is None:
            return []
        return [f"{len(resource.times)} of {resource.samples} samples within -t "
                f"{resource.run.options.timeout:g} ({resource.shortfall}); the figures are "
                "those of the samples taken",
                "samples: " + ", ".join(f"{t:.3f}" for t in resource.times) + " s"]


def build(run: ProbeRun, endpoint: str, samples: int, interval: float) -> nagiosplugin.Check:
    profile = run.environment.profile
    if endpoint not in profile.endpoints:
        raise ProbeUsageError(f"unknown endpoint {endpoint!r}; the profile has: "
                              f"{', '.join(profile.endpoints)}")
    if profile.endpoint(endpoint).parameters():
        raise ProbeUsageError(f"endpoint {endpoint!r} takes parameters and cannot be timed "
                              "on its own")
    options = run.options
    resource = ResponseTimes(run, endpoint, samples, interval)
    return nagiosplugin.Check(
        resource,
        run.time_context("time", words="average response time"),
        QuietContext("time_extreme", options.warning, options.critical),
        nagiosplugin.ScalarContext("samples"),
        FailureContext(),
        ResponseTimeSummary(run.environment.name, endpoint, resource),
    )


probe = Probe("IASO RESPONSE TIME", "check_iaso_response_time", build, OPTIONS,
              help_text="Time N requests to one IASO endpoint; -w/-c apply to the average "
                        "response time in seconds.",
              thresholds="average response time in seconds")
main = probe.main

if __name__ == "__main__":
    main()
