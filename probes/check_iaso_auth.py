"""check_iaso_auth: does the IASO API accept our login and hand out a usable token?

POST the configured credentials to the login endpoint. OK with the login time; CRITICAL when
the login is rejected or no token comes back; WARNING when the token would expire too soon
(its lifetime from the answer's expiry field, or from a JWT's exp claim).
"""
from __future__ import annotations

from typing import Iterator, List

import click
import nagiosplugin

from libiaso.run.measurement import ApiResource, FailureContext, IasoSummary, measured
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe

OPTIONS = [
    click.option("-L", "--lifetime-warning", type=click.FloatRange(min=0), default=300.0,
                 show_default=True, metavar="SECONDS",
                 help="WARNING when the token's remaining lifetime is below this."),
]

# --- acquisition -------------------------------------------------------------------------------


class Authentication(ApiResource):
    time_metric = "login_time"

    def __init__(self, run: ProbeRun) -> None:
        super().__init__(run)
        self.lifetime_known = False

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        login = self.run.client.login()
        yield self.seconds("login_time", login.elapsed)
        lifetime = login.lifetime()
        if lifetime is not None:
            self.lifetime_known = True
            yield nagiosplugin.Metric("token_lifetime", round(lifetime), "s", min=0,
                                      context="token_lifetime")


# --- evaluation and presentation ---------------------------------------------------------------


class AuthSummary(IasoSummary):
    def __init__(self, environment: str, username: str, resource: Authentication) -> None:
        super().__init__(environment)
        self.username = username
        self.resource = resource

    def ok_text(self, results: nagiosplugin.Results) -> str:
        text = f"login as {self.username} accepted in {measured(results, 'login_time'):.3f} s"
        lifetime = measured(results, "token_lifetime")
        if lifetime is not None:
            text += f", token valid for {lifetime:.0f} s"
        return text

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        if measured(results, "login_time") is not None and not self.resource.lifetime_known \
                and measured(results, "failure") is None:
            return ["the token's lifetime is unknown: no expiry field and not a JWT"]
        return []


def build(run: ProbeRun, lifetime_warning: float) -> nagiosplugin.Check:
    credentials = run.environment.credentials
    resource = Authentication(run)
    return nagiosplugin.Check(
        resource,
        run.time_context("login_time", words="login time"),
        nagiosplugin.ScalarContext("token_lifetime", warning=f"{lifetime_warning:g}:",
                                   fmt_metric="token lifetime {value:.0f} s"),
        FailureContext(),
        AuthSummary(run.environment.name, credentials.username if credentials else "?",
                    resource),
    )


probe = Probe("IASO AUTH", "check_iaso_auth", build, OPTIONS,
              help_text="Log in to the IASO API with the configured credentials (the password "
                        "comes from a file or an environment variable, never the command line). "
                        "-w/-c apply to the login time.",
              thresholds="login time in seconds")
main = probe.main

if __name__ == "__main__":
    main()
