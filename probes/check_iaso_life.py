"""check_iaso_life: is the IASO API alive?

GET the life endpoint; the answer must say alive as the profile reads it (our contract: HTTP
200 and the body's statusCode 200; another API: a text, another field, or the HTTP status alone).
"""
from __future__ import annotations

from typing import Iterator

import nagiosplugin

from libiaso.api.answers import verify
from libiaso.run.measurement import ApiResource, FailureContext, IasoSummary, measured
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe

# --- acquisition -------------------------------------------------------------------------------


class Life(ApiResource):
    time_metric = "time"

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        answer = self.run.client.call("life")
        yield self.seconds("time", answer.elapsed)
        yield nagiosplugin.Metric("size", answer.size, "B", min=0, context="size")
        verify(answer)


# --- evaluation and presentation ---------------------------------------------------------------


class LifeSummary(IasoSummary):
    def ok_text(self, results: nagiosplugin.Results) -> str:
        return f"answered in {measured(results, 'time'):.3f} s"


def build(run: ProbeRun) -> nagiosplugin.Check:
    return nagiosplugin.Check(
        Life(run),
        run.time_context("time"),
        nagiosplugin.ScalarContext("size"),
        FailureContext(),
        LifeSummary(run.environment.name),
    )


probe = Probe("IASO LIFE", "check_iaso_life", build,
              help_text="Check that the IASO API is alive: the life endpoint's answer says so "
                        "as the profile reads it (by default statusCode 200; another field, a "
                        "text or the HTTP status alone). -w/-c apply to the response time.")
main = probe.main

if __name__ == "__main__":
    main()
