"""Profile version 2: shapes, types and conventions of APIs other than our own contract, said
in the configuration alone; and version 1 profiles as they were."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from conftest import play, write_config

from iaso_probes.check_iaso_auth import probe as auth
from iaso_probes.check_iaso_backup import probe as backup
from iaso_probes.check_iaso_health import probe as health
from iaso_probes.check_iaso_life import probe as life
from libiaso.api.answers import Answer, JobNotVisible, job_status, read
from libiaso.config.profile import FieldSpec
from libiaso.config.settings import load_config
from libiaso.errors import WrongType
from libiaso.jobs.outcomes import OutcomeTable


def configured(tmp_path: Path, sim: Any, profile: Dict[str, Any], **extra: Any) -> Path:
    return write_config(tmp_path, sim.url, extra={"profile": profile, **extra})


def v2(**endpoints: Any) -> Dict[str, Any]:
    return {"version": 2, "endpoints": endpoints}


# --- requests ----------------------------------------------------------------------------------

def test_ok_v2_body_template_replaces_the_base_body(tmp_path: Path, sim: Any) -> None:
    config = configured(tmp_path, sim, v2(backup={"body": {"client": "{hostname}"}}))
    endpoint = load_config(str(config)).environment(None).profile.endpoint("backup")
    assert endpoint.render_body({"hostname": "vm-a", "level": "full"}) == {"client": "vm-a"}


def test_ok_v1_body_template_is_still_merged_as_before(tmp_path: Path, sim: Any) -> None:
    v1 = {"endpoints": {"backup": {"body": {"client": "{hostname}"}}}}
    config = configured(tmp_path, sim, v1)
    endpoint = load_config(str(config)).environment(None).profile.endpoint("backup")
    assert set(endpoint.render_body({"hostname": "vm-a", "level": "full"})) == {
        "client", "hostname", "backupLevel"}


def test_ok_v2_get_has_no_body_unless_given(tmp_path: Path, sim: Any) -> None:
    config = configured(tmp_path, sim, v2(job_status={"method": "GET", "path": "/jobs/{job_id}"}))
    endpoint = load_config(str(config)).environment(None).profile.endpoint("job_status")
    assert endpoint.body is None and endpoint.render_path({"job_id": 7}) == "/jobs/7"


@pytest.mark.parametrize("profile,words", [
    (v2(login={"query": {"pw": "{password}"}}), "may not travel in a URL"),
    (v2(login={"path": "/login/{password}"}), "may not travel in a URL"),
    ({"version": 2, "base": "nope"}, "expected one of iaso"),
    ({"version": 3}, "expected 1 or 2"),
    ({"base": "iaso"}, "base: needs version: 2"),
    (v2(life={"fields": {"status_code": {"path": "a", "from": "epoch"}}}), "give type: time"),
    (v2(life={"fields": {"status_code": {"path": "a", "typo": 1}}}), "unknown key: typo"),
    (v2(life={"answer": "text", "fields": {"status_code": "a.b"}}), "give path '.'"),
    (v2(health={"states": {"UP": "fine"}}), "expected one of ok, warning, critical"),
    (v2(life={"success": {"field": "status_code"}}), "give in:, present: or empty:"),
    (v2(backup={"path": "/backup/{subclient_id}"}), "needs params: subclient_id"),
])
def test_unknown_profile_errors_name_the_key(profile: Dict[str, Any], words: str,
                                             tmp_path: Path, sim: Any) -> None:
    config = configured(tmp_path, sim, profile,
                        backup_sets={"s": [{"hostname": "vm-a", "level": "full"}]})
    outcome = life.run(["-C", str(config)])
    assert outcome.code == 3 and words in outcome.first_line, outcome.output
    assert "profile" in outcome.first_line or "params" in outcome.first_line


def test_ok_target_params_reach_the_request(tmp_path: Path, sim: Any) -> None:
    config = configured(tmp_path, sim, v2(backup={"body": {"hostname": "{hostname}",
                                                           "backupLevel": "{level}",
                                                           "subclient": "{subclient_id}"}}),
                        backup_sets={"s": [{"hostname": "vm-a", "level": "full",
                                            "params": {"subclient_id": 42}}]},
                        jobs={"state_dir": str(tmp_path / "state")})
    outcome = backup.run(["-C", str(config), "-S", "s"])
    assert outcome.code == 0 and "launched 1 backup" in outcome.first_line, outcome.output


# --- answers of other shapes -------------------------------------------------------------------

TEXT_LIFE = {"answer": "text", "fields": {"status_code": "."},
             "success": {"field": "status_code", "in": ["OK"]}}


def test_ok_plain_text_life_answer(tmp_path: Path, sim: Any) -> None:
    play(sim, {"endpoints": {"life": {"body": {"raw": "OK\n"}}}})
    assert life.run(["-C", str(configured(tmp_path, sim, v2(life=TEXT_LIFE)))]).code == 0


def test_crit_plain_text_life_answer_says_what_it_got(tmp_path: Path, sim: Any) -> None:
    play(sim, {"endpoints": {"life": {"body": {"raw": "MAINTENANCE"}}}})
    outcome = life.run(["-C", str(configured(tmp_path, sim, v2(life=TEXT_LIFE)))])
    assert outcome.code == 2 and "answered 'MAINTENANCE', expected 'OK'" in outcome.first_line


def test_crit_life_message_names_the_configured_field(tmp_path: Path, sim: Any) -> None:
    play(sim, {"endpoints": {"life": {"body": {"json": {"result": {"code": 503}}}}}})
    profile = v2(life={"fields": {"status_code": "result.code"}})
    outcome = life.run(["-C", str(configured(tmp_path, sim, profile))])
    assert outcome.code == 2 and "result.code 503, expected 200" in outcome.first_line
    assert "statusCode" not in outcome.output


HEALTH_LIST = {"fields": {"components": ".", "component_name": "service",
                          "component_status": "state", "component_message": "detail"},
               "states": {"UP": "ok", "DEGRADED": "warning", "DOWN": "critical"}}
HEALTH_LIST["fields"].pop("overall", None)


@pytest.mark.parametrize("states,code,words", [
    ({"a": "UP", "b": "UP"}, 0, "all 2 components healthy"),
    ({"a": "UP", "b": "DEGRADED"}, 1, "1 of 2 components unhealthy: b (DEGRADED)"),
    ({"a": "DOWN", "b": "DEGRADED"}, 2, "2 of 2 components unhealthy"),
    ({"a": "UP", "b": "SMOKING"}, 2, "b (SMOKING)"),
], ids=["ok-all-up", "warn-degraded", "crit-down", "crit-unknown-word"])
def test_health_bare_list_with_three_words(states: Dict[str, str], code: int, words: str,
                                           tmp_path: Path, sim: Any) -> None:
    document = [{"service": name, "state": state} for name, state in states.items()]
    play(sim, {"endpoints": {"health": {"body": {"json": document}}}})
    profile = {"version": 2, "endpoints": {"health": {**HEALTH_LIST,
                                                      "fields": {**HEALTH_LIST["fields"],
                                                                 "overall": "nowhere"}}}}
    outcome = health.run(["-C", str(configured(tmp_path, sim, profile))])
    assert outcome.code == code and words in outcome.first_line, outcome.output


def test_crit_login_refused_with_200_and_an_error_list_quotes_the_reason(tmp_path: Path,
                                                                        sim: Any) -> None:
    play(sim, {"endpoints": {"login": {"body": {"json": {
        "errList": [{"errorCode": 5, "errLogMessage": "Login failed: account locked"}]}}}}})
    profile = v2(login={"fields": {"token": "token", "reason": "errList.0.errLogMessage"}})
    outcome = auth.run(["-C", str(configured(tmp_path, sim, profile))])
    assert outcome.code == 2 and "Login failed: account locked" in outcome.first_line


def test_crit_login_failure_rule_wins_over_a_token(tmp_path: Path, sim: Any) -> None:
    play(sim, {"endpoints": {"login": {"body": {"json": {"token": "abc", "errorCode": 3,
                                                         "errorMessage": "expired password"}}}}})
    profile = v2(login={"fields": {"token": "token", "reason": "errorMessage",
                                   "error_code": "errorCode"},
                        "failure": {"field": "error_code", "present": True}})
    outcome = auth.run(["-C", str(configured(tmp_path, sim, profile))])
    assert outcome.code == 2 and "rejected (HTTP 200: expired password)" in outcome.first_line


def test_crit_launch_refused_with_200_and_an_error_message_quotes_the_reason(
        tmp_path: Path, sim: Any) -> None:
    play(sim, {"endpoints": {"backup": {"body": {"json": {"errorMessage": "Client not licensed",
                                                          "errorCode": 2}}}}})
    profile = v2(backup={"fields": {"job_id": "jobIds.0", "reason": "errorMessage"}})
    config = configured(tmp_path, sim, profile, jobs={"state_dir": str(tmp_path / "s")})
    outcome = backup.run(["-C", str(config), "-H", "vm-a", "--wait", "-t", "5"])
    assert outcome.code == 2 and "Client not licensed" in outcome.output, outcome.output


# --- conversions -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,value,kind,expected", [
    (FieldSpec("v", "number", "text"), "45", "number", 45),
    (FieldSpec("v", "number", "text"), "45.5", "number", 45.5),
    (FieldSpec("v", "number", "text"), 45, "number", 45),
    (FieldSpec("v", "number", "json", 100.0), 0.45, "number", 45.0),
    (FieldSpec("v", "time", "epoch"), 1700000000, "time", 1700000000.0),
    (FieldSpec("v", "time", "epoch"), "1700000000", "time", 1700000000.0),
    (FieldSpec("v", "time", "epoch_ms"), 1700000000500, "time", 1700000000.5),
    (FieldSpec("v", "time", "iso8601"), "2023-11-14T22:13:20Z", "time", 1700000000.0),
    (FieldSpec("v", "time", "iso8601"), "2023-11-14T23:13:20+01:00", "time", 1700000000.0),
    (FieldSpec("v", "bool", "text"), "true", "bool", True),
    (FieldSpec("v", "text", "json", 1.0, {"2": "Running"}), 2, "str", "Running"),
    (FieldSpec("v", "text", "json", 1.0, {"2": "Running"}), 7, "str", "7"),
    (FieldSpec("v", "text"), 7, "str", "7"),
], ids=lambda v: repr(v)[:30])
def test_ok_typed_conversions(spec: FieldSpec, value: Any, kind: str, expected: Any) -> None:
    assert read({"v": value}, spec, kind) == expected


@pytest.mark.parametrize("spec,value,kind", [
    (FieldSpec("v", "number", "text"), "forty", "number"),
    (FieldSpec("v", "number", "text"), "1e400", "number"),
    (FieldSpec("v", "number", "json"), "45", "number"),
    (FieldSpec("v", "time", "iso8601"), "yesterday", "time"),
    (FieldSpec("v", "time", "epoch"), "1e400", "time"),
    (FieldSpec("v", "number", "json", 1e20), 1e10, "number"),
    (FieldSpec("v", "text"), True, "str"),
    (FieldSpec("v", "text"), 7, "text"),
], ids=lambda v: repr(v)[:30])
def test_crit_conversions_refuse_what_they_cannot_read(spec: FieldSpec, value: Any,
                                                       kind: str) -> None:
    with pytest.raises(WrongType) as caught:
        read({"v": value}, spec, kind)
    assert caught.value.field == "v"


def test_ok_job_not_yet_visible_as_zero_records(tmp_path: Path, sim: Any) -> None:
    profile = v2(job_status={"fields": {"records": "totalRecords", "status": "jobs.0.status"},
                             "not_visible": {"field": "records", "in": [0]}})
    config = configured(tmp_path, sim, profile)
    endpoint = load_config(str(config)).environment(None).profile.endpoint("job_status")
    answer = Answer(endpoint, "http://h/jobs/status", 200, 0.1, 10, {"totalRecords": 0})
    with pytest.raises(JobNotVisible) as caught:
        job_status(answer, 7, "vm-a")
    assert caught.value.status == 404


@pytest.mark.parametrize("states,category", [({}, None), ({"7": "ok"}, "ok")],
                         ids=["unknown-a-code-no-table-names-stays-unclassified",
                              "ok-a-code-the-profile-names-in-states"])
def test_job_status_written_as_a_number_is_a_word(tmp_path: Path, sim: Any,
                                                  states: Dict[str, str],
                                                  category: Optional[str]) -> None:
    config = configured(tmp_path, sim, v2(job_status={"states": states} if states else {}))
    endpoint = load_config(str(config)).environment(None).profile.endpoint("job_status")
    answer = Answer(endpoint, "http://h/jobs/status", 200, 0.1, 10,
                    {"jobId": 7, "hostname": "vm-a", "status": 7})
    status = job_status(answer, 7, "vm-a").status
    assert status == "7"
    assert OutcomeTable(None, endpoint.states).category(status) == category
