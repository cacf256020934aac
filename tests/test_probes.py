"""Every probe against the simulator, outcome by outcome (in-process, real HTTP on loopback)."""
from __future__ import annotations

import base64
import json
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from conftest import PASSWORD, play, write_config

from iaso_probes import (
    check_iaso_auth,
    check_iaso_health,
    check_iaso_life,
    check_iaso_response_time,
)

PROBES = {"life": check_iaso_life.probe, "health": check_iaso_health.probe,
          "response_time": check_iaso_response_time.probe, "auth": check_iaso_auth.probe}
STATES = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}


@dataclass
class Case:
    id: str
    probe: str
    first_line: str
    args: Tuple[str, ...] = ()
    scenario: Dict[str, Any] = field(default_factory=dict)
    config: Dict[str, Any] = field(default_factory=dict)
    long_output: Optional[str] = None
    perfdata: Tuple[str, ...] = ()

    @property
    def code(self) -> int:
        return STATES[self.id.split("-", 1)[0]]


def jwt_expiring_in(seconds: int) -> str:
    claims = json.dumps({"sub": "nagios", "exp": int(time.time()) + seconds}).encode()
    return "eyJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(claims).decode().rstrip("=") + ".x"


def fault(role: str, **spec: Any) -> Dict[str, Any]:
    return {"endpoints": {role: spec}}


CASES: List[Case] = [
    # --- life ----------------------------------------------------------------------------------
    Case("ok-life-alive", "life", r"^IASO LIFE OK - lab: answered in \d\.\d{3} s \| ",
         perfdata=("time", "size")),
    Case("warn-life-slower-than-warning", "life", r"^IASO LIFE WARNING - lab: response time "
         r"0\.[2-9]\d\d s \(outside range 0:0\.1\)", ("-w", "0.1", "-c", "5"),
         fault("life", latency=0.25), perfdata=("time", "size")),
    Case("crit-life-slower-than-critical", "life", r"^IASO LIFE CRITICAL - lab: response time",
         ("-w", "0.05", "-c", "0.1"), fault("life", latency=0.25)),
    Case("crit-life-http-503-with-body", "life",
         r"^IASO LIFE CRITICAL - lab: http://127\.0\.0\.1:\d+/api/v1/life answered HTTP 503: "
         r"simulated HTTP 503 \| time=", scenario=fault("life", status=503)),
    Case("crit-life-http-500-without-body", "life",
         r"^IASO LIFE CRITICAL - lab: \S+ answered HTTP 500 \| time=",
         scenario=fault("life", status=500, body="empty")),
    Case("crit-life-http-503-html-page", "life",
         r"^IASO LIFE CRITICAL - lab: \S+ answered HTTP 503: HTML page",
         scenario=fault("life", status=503, body="html")),
    Case("crit-life-http-401", "life", r"answered HTTP 401", scenario=fault("life", status=401)),
    Case("crit-life-http-403-no-body", "life", r"answered HTTP 403 \|",
         scenario=fault("life", status=403, body="empty")),
    Case("crit-life-http-404", "life", r"answered HTTP 404", scenario=fault("life", status=404)),
    Case("crit-life-html-body", "life", r"answered HTTP 200 with a body that is HTML",
         scenario=fault("life", body="html")),
    Case("crit-life-invalid-json", "life", r"answered HTTP 200 with a body that is not valid JSON",
         scenario=fault("life", body="malformed")),
    Case("crit-life-truncated-body", "life", r"CRITICAL - lab: the answer from \S+ was cut short",
         scenario=fault("life", body="truncated")),
    Case("crit-life-empty-body", "life", r"answered HTTP 200 with an empty body",
         scenario=fault("life", body="empty")),
    Case("crit-life-list-not-object", "life", r"answered a JSON list, expected an object",
         scenario=fault("life", body="list")),
    Case("crit-life-statuscode-as-string", "life",
         r"field 'statusCode' should be a whole number, got a text",
         scenario=fault("life", body={"json": {"statusCode": "200"}})),
    Case("crit-life-statuscode-missing", "life", r"the answer has no field 'statusCode'",
         scenario=fault("life", body={"json": {"message": "alive"}})),
    Case("crit-life-statuscode-500-in-body", "life", r"answered statusCode 500, expected 200",
         scenario=fault("life", body={"json": {"statusCode": 500}})),
    Case("crit-life-nan-in-body", "life", r"body that is not valid JSON",
         scenario=fault("life", body={"raw": '{"statusCode": NaN}'})),
    Case("crit-life-50mb-body", "life", r"announces 52428800 bytes, over the 1048576-byte bound",
         scenario=fault("life", body="huge")),
    Case("crit-life-hangs", "life", r"^IASO LIFE CRITICAL - lab: no complete answer from \S+ "
         r"after 1\.\d s: stopped at the probe's deadline \(-t 2\)", ("-t", "2"),
         fault("life", hang=True), perfdata=("time",)),
    Case("crit-life-redirect-to-other-host", "life",
         r"redirected to http://127\.0\.0\.2:9/elsewhere, another origin: not followed",
         scenario=fault("life", redirect="http://127.0.0.2:9/elsewhere")),
    Case("crit-life-connection-refused", "life",
         r"^IASO LIFE CRITICAL - lab: cannot connect to http://127\.0\.0\.1:\d+/api/v1/life: "
         r"connection refused", config={"base_url": "closed-port"}),
    Case("unknown-life-bad-threshold", "life", r"^IASO LIFE UNKNOWN - usage: .*'1:0:3' is not a "
         r"Nagios range", ("-w", "1:0:3")),
    Case("unknown-life-unknown-environment", "life",
         r"^IASO LIFE UNKNOWN - \S+iaso\.yaml: unknown environment 'prod'; configured: lab$",
         ("-E", "prod")),
    # --- health --------------------------------------------------------------------------------
    Case("ok-health-all-healthy", "health",
         r"^IASO HEALTH OK - lab: all 8 components healthy \(\d\.\d{3} s\) \| ",
         long_output=r"\nOK commserve: healthy\n", perfdata=("healthy", "unhealthy", "time")),
    Case("crit-health-commserve-down", "health",
         r"^IASO HEALTH CRITICAL - lab: 1 of 8 components unhealthy: commserve \(unhealthy\)",
         scenario={"components": {"commserve": "unhealthy"}},
         long_output=r"\nCRITICAL commserve: unhealthy \(commserve does not answer",
         perfdata=("healthy", "unhealthy", "time")),
    Case("warn-health-vcenter-down-configured-warning", "health",
         r"^IASO HEALTH WARNING - lab: 1 of 8 components unhealthy: vcenter \(unhealthy\)",
         scenario={"components": {"vcenter": "unhealthy"}},
         config={"health_severity": {"vcenter": "warning"}}),
    Case("crit-health-critical-wins-over-warning", "health",
         r"CRITICAL - lab: 2 of 8 components unhealthy: index_db \(unhealthy\), vcenter",
         scenario={"components": {"vcenter": "unhealthy", "index_db": "unhealthy"}},
         config={"health_severity": {"vcenter": "warning"}},
         long_output=r"\nCRITICAL index_db: unhealthy.*\nWARNING vcenter: unhealthy"),
    Case("crit-health-unknown-component-state", "health",
         r"1 of 8 components unhealthy: dedup_db \(degraded\)",
         scenario={"components": {"dedup_db": "degraded"}}),
    Case("crit-health-no-components", "health", r"the health answer lists no component",
         scenario=fault("health", body={"json": {"status": "healthy", "components": []}})),
    Case("crit-health-overall-unhealthy-alone", "health",
         r"overall status 'unhealthy' although every component is healthy",
         scenario=fault("health", body={"json": {"status": "unhealthy", "components": [
             {"name": "commserve", "status": "healthy"}]}})),
    Case("ok-health-components-as-mapping", "health", r"OK - lab: all 2 components healthy",
         scenario=fault("health", body={"json": {"components": {
             "commserve": "healthy", "vcenter": {"status": "healthy"}}}})),
    Case("crit-health-component-without-status", "health",
         r"the answer has no field 'status'",
         scenario=fault("health", body={"json": {"components": [{"name": "commserve"}]}})),
    Case("crit-health-http-503", "health", r"answered HTTP 503",
         scenario=fault("health", status=503), perfdata=("time",)),
    # --- response time -------------------------------------------------------------------------
    Case("ok-response-time-five-samples", "response_time",
         r"^IASO RESPONSE TIME OK - lab: life answered 5 times in \d\.\d{3} s on average",
         ("-n", "5", "-w", "1", "-c", "2"), perfdata=("time_avg", "time_min", "time_max",
                                                      "samples")),
    Case("ok-response-time-health-endpoint", "response_time",
         r"^IASO RESPONSE TIME OK - lab: health answered in", ("-e", "health")),
    Case("warn-response-time-average", "response_time",
         r"^IASO RESPONSE TIME WARNING - lab: average response time 0\.\d{3} s "
         r"\(outside range 0:0\.1\)", ("-n", "2", "-w", "0.1", "-c", "3"),
         fault("life", latency=0.2)),
    Case("crit-response-time-never-answers", "response_time",
         r"^IASO RESPONSE TIME CRITICAL - lab: no complete answer .* \| time_avg=1\.\d+s;;;0;2\.0 "
         r".* samples=1;;;0;3$", ("-n", "3", "-t", "2"), fault("life", hang=True)),
    Case("crit-response-time-fast-but-wrong-answer", "response_time",
         r"^IASO RESPONSE TIME CRITICAL - lab: \S+ answered statusCode 500, expected 200 \| "
         r"time_avg=.* samples=1;;;0;1$",
         scenario=fault("life", body={"json": {"statusCode": 500}})),
    Case("unknown-response-time-unknown-endpoint", "response_time",
         r"^IASO RESPONSE TIME UNKNOWN - lab: unknown endpoint 'nope'", ("-e", "nope")),
    Case("unknown-response-time-endpoint-with-parameters", "response_time",
         r"endpoint 'backup' takes parameters", ("-e", "backup")),
    # --- auth ----------------------------------------------------------------------------------
    Case("ok-auth-accepted", "auth", r"^IASO AUTH OK - lab: login as nagios accepted in "
         r"\d\.\d{3} s, token valid for 3600 s \| ", perfdata=("login_time", "token_lifetime")),
    Case("warn-auth-token-expires-soon", "auth", r"^IASO AUTH WARNING - lab: token lifetime 60 s",
         scenario={"token_lifetime": 60}),
    Case("ok-auth-lifetime-from-jwt", "auth", r"token valid for 3[0-6]\d\d s",
         scenario=fault("login", body={"json": {"token": jwt_expiring_in(3600)}}),
         config={"profile": {"endpoints": {"login": {"fields": {"expires_in": "missing"}}}}}),
    Case("crit-auth-rejected", "auth",
         r"^IASO AUTH CRITICAL - lab: login as nagios rejected \(HTTP 401: KO\) \| login_time=",
         scenario={"reject_logins": True}),
    Case("crit-auth-ko-without-token", "auth",
         r"login as nagios answered HTTP 200 without a token \(field 'token'\)",
         scenario=fault("login", body={"json": {"result": "KO"}})),
    Case("crit-auth-plain-ko-text", "auth", r"with a body that is not valid JSON",
         scenario=fault("login", body={"raw": "KO"})),
    Case("crit-auth-slow-login", "auth", r"CRITICAL - lab: login time 0\.\d{3} s",
         ("-c", "0.1"), fault("login", latency=0.2)),
    Case("ok-auth-base64-password", "auth", r"^IASO AUTH OK",
         scenario={"credentials": {"username": "nagios", "password": PASSWORD,
                                   "password_encoding": "base64"}},
         config={"profile": {"auth": {"password_encoding": "base64"}}}),
    Case("crit-auth-base64-expected-plain-sent", "auth", r"rejected \(HTTP 401: KO\)",
         scenario={"credentials": {"username": "nagios", "password": PASSWORD,
                                   "password_encoding": "base64"}}),
    Case("unknown-auth-password-file-missing", "auth",
         r"^IASO AUTH UNKNOWN - lab: password file /nonexistent/iaso\.password does not exist$",
         config={"credentials": {"username": "nagios",
                                 "password_file": "/nonexistent/iaso.password"}}),
    Case("unknown-auth-password-variable-unset", "auth",
         r"^IASO AUTH UNKNOWN - lab: environment variable IASO_TEST_UNSET_PASSWORD is not set$",
         config={"credentials": {"username": "nagios",
                                 "password_env": "IASO_TEST_UNSET_PASSWORD"}}),
    Case("unknown-life-unknown-config-key", "life",
         r"^IASO LIFE UNKNOWN - \S+iaso\.yaml: environments\.lab: unknown key: colour$",
         config={"colour": "blue"}),
    Case("unknown-auth-no-credentials", "auth",
         r"^IASO AUTH UNKNOWN - lab: \S+: environments\.lab\.credentials: no credentials",
         config={"credentials": None}),
]


def _config_for(case: Case, tmp_path: Path, sim: Any) -> Path:
    extra = dict(case.config)
    base_url = sim.url
    if extra.pop("base_url", None) == "closed-port":
        with socket.socket() as probe_socket:
            probe_socket.bind(("127.0.0.1", 0))
            port = probe_socket.getsockname()[1]
        base_url = f"http://127.0.0.1:{port}/api/v1"
    path = write_config(tmp_path, base_url, extra=extra)
    if extra.get("credentials", "") is None:
        text = path.read_text().replace("credentials: null\n", "")
        path.write_text(text)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_probe_outcome(case: Case, sim: Any, tmp_path: Path) -> None:
    play(sim, case.scenario)
    config = _config_for(case, tmp_path, sim)
    outcome = PROBES[case.probe].run(["-C", str(config), *case.args])
    assert outcome.code == case.code, outcome.output
    assert re.search(case.first_line, outcome.first_line), outcome.output
    if case.long_output:
        assert re.search(case.long_output, outcome.output, re.S), outcome.output
    _, _, perfdata = outcome.first_line.partition(" | ")
    labels = re.findall(r"(?:^| )'?([a-z_]+)'?=", perfdata)
    assert set(case.perfdata) <= set(labels), perfdata
    assert len({label[:19] for label in labels}) == len(labels)
    assert PASSWORD not in outcome.output
    assert "Traceback" not in outcome.output
    assert len(outcome.output.encode()) < 4096
