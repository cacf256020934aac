"""The results log and the ELK material against the Elastic Common Schema, as Elastic publishes it.

The field list is the npm package @elastic/ecs (its ``EcsFlat`` export), pinned to the version
the records declare in ``ecs.version`` and cached as JSON by scripts/install-ecs. Every field the
six probes write, on success and on failure, jobs and components included, is either an ECS
field, with a value of ECS's type and among its allowed values, or lives under ``iaso.*``; every
field the index template maps is mapped as ECS maps it; the dashboard and the shippers name only
fields that are ECS or ours, and mapped.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import math
import re
import shutil
import socket
import subprocess
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import pytest
import yaml
from conftest import ROOT, play, write_config

from iaso_probes import (
    check_iaso_auth,
    check_iaso_backup,
    check_iaso_health,
    check_iaso_life,
    check_iaso_response_time,
    check_iaso_restore,
)
from libiaso.results.log import ECS_VERSION, build_record

ELK = ROOT / "docs" / "elk"
ECS_CACHE = ROOT / ".ecs" / f"ecs-flat-{ECS_VERSION}.json"
Fields = Dict[str, Dict[str, Any]]


@pytest.fixture(scope="module")
def ecs() -> Fields:
    """Every ECS field of the pinned version: flat name → definition."""
    if not ECS_CACHE.is_file():
        pytest.fail(f"{ECS_CACHE.relative_to(ROOT)} is missing: run scripts/install-ecs "
                    "(scripts/test does)", pytrace=False)
    data = json.loads(ECS_CACHE.read_text(encoding="utf-8"))
    assert data["package"] == f"@elastic/ecs@{ECS_VERSION}" and data["version"] == ECS_VERSION
    return data["fields"]


# --- what a value of each Elasticsearch type may be -------------------------------------------

STRINGS = ("keyword", "constant_keyword", "wildcard", "text", "match_only_text")
INTEGERS = {"long": 63, "integer": 31, "short": 15, "byte": 7}
FLOATS = {"double": 1.7976931348623157e308, "float": 3.4028234663852886e38,
          "half_float": 65504.0, "scaled_float": 1.7976931348623157e308}
ISO_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def type_problem(es_type: str, value: Any) -> Optional[str]:
    """Why ``value`` cannot be indexed as ``es_type`` (None when it can)."""
    if es_type in STRINGS:
        return None if isinstance(value, str) else f"{es_type} needs a string"
    if es_type == "boolean":
        return None if isinstance(value, bool) else "boolean needs true or false"
    if isinstance(value, bool):
        return f"{es_type} given a boolean"
    if es_type in INTEGERS:
        bits = INTEGERS[es_type]
        if not isinstance(value, int):
            return f"{es_type} needs a whole number"
        return None if -(2 ** bits) <= value < 2 ** bits else f"{value} outside {es_type}"
    if es_type in FLOATS:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{es_type} needs a finite number"
        return None if abs(value) <= FLOATS[es_type] else f"{value} outside {es_type}"
    if es_type == "date":
        if not isinstance(value, str) or not ISO_MILLIS.fullmatch(value):
            return "date must be ISO 8601 UTC with milliseconds (2016-05-23T08:05:34.853Z)"
        try:
            datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            return "date is not a real date"
        return None
    if es_type == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return "ip needs an IPv4 or IPv6 address"
        return None
    return f"type {es_type} is not one this check knows how to verify"


# --- records and their fields -----------------------------------------------------------------


def fields_of(document: Dict[str, Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(dotted path, value) of every leaf; objects inside lists give their leaves' paths, and
    an empty list gives nothing (Elasticsearch indexes nothing for it)."""
    for key, value in document.items():
        path = prefix + key
        if value == []:
            continue
        if isinstance(value, dict):
            yield from fields_of(value, path + ".")
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for item in value:
                assert isinstance(item, dict), f"{path}: a list mixing objects and values"
                yield from fields_of(item, path + ".")
        else:
            yield path, value


def mapped_fields() -> Dict[str, Dict[str, Any]]:
    """Every leaf of the template's mapping, multi-fields included: dotted path → its mapping."""
    template = json.loads((ELK / "index-template.json").read_text())

    def walk(properties: Dict[str, Any], prefix: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if "properties" in spec:
                yield from walk(spec["properties"], path + ".")
            else:
                yield path, spec
                for sub, sub_spec in spec.get("fields", {}).items():
                    yield f"{path}.{sub}", sub_spec

    return dict(walk(template["template"]["mappings"]["properties"], ""))


CUSTOM_SEGMENT = re.compile(r"[a-z][a-z0-9_]*")


def record_problems(record: Dict[str, Any], ecs: Fields,
                    mapping: Dict[str, Dict[str, Any]]) -> List[str]:
    """Every way a record breaks ECS or the template: unknown names, types, values, nulls."""
    problems: List[str] = []
    for path, value in fields_of(record):
        values = value if isinstance(value, list) else [value]
        if path.startswith("iaso."):
            problems += [f"{path}: custom name segment {segment!r} is not lower snake case"
                         for segment in path.split(".") if not CUSTOM_SEGMENT.fullmatch(segment)]
        else:
            problems += ecs_field_problems(path, value, ecs)
        if path not in mapping:
            problems.append(f"{path}: not mapped by the index template")
            continue
        mapped = mapping[path]["type"]
        problems += [f"{path}: {problem} (mapped {mapped})" for problem in
                     (type_problem(mapped, item) for item in values if item is not None)
                     if problem]
    return problems


def ecs_field_problems(path: str, value: Any, ecs: Fields) -> List[str]:
    spec = ecs.get(path)
    if spec is None and any(name.startswith(path + ".") for name in ecs):
        return [f"{path}: ECS defines an object here, not a value"]
    if spec is None:
        return [f"{path}: not an ECS {ECS_VERSION} field (ours go under iaso.*)"]
    if spec["type"] in ("object", "nested", "flattened"):
        return [f"{path}: ECS defines an object here, not a value"]
    is_array = "array" in spec.get("normalize", [])
    if isinstance(value, list) != is_array:
        return [f"{path}: ECS expects {'an array' if is_array else 'a single value'}"]
    problems: List[str] = []
    allowed = {entry["name"] for entry in spec.get("allowed_values", [])}
    for item in value if is_array else [value]:
        if item is None:
            problems.append(f"{path}: null (leave an ECS field out instead)")
            continue
        problem = type_problem(spec["type"], item)
        if problem:
            problems.append(f"{path}: {problem} (ECS type {spec['type']})")
        elif isinstance(item, str) and len(item) > spec.get("ignore_above", math.inf):
            problems.append(f"{path}: {len(item)} characters, not indexed past "
                            f"{spec['ignore_above']}")
        if allowed and item not in allowed:
            problems.append(f"{path}: {item!r} is not among ECS's allowed values")
    return problems


def categorisation_problems(record: Dict[str, Any], ecs: Fields) -> List[str]:
    """event.type values must be ones ECS expects with the record's event.category values."""
    event = record.get("event", {})
    if "category" not in event or "type" not in event:
        return []
    expected = {entry["name"]: set(entry.get("expected_event_types", []))
                for entry in ecs["event.category"]["allowed_values"]}
    return [f"event.type {kind!r} is not expected with event.category {category!r}"
            for category in event["category"] for kind in event["type"]
            if category in expected and kind not in expected[category]]


# --- every probe, on success and on failure ----------------------------------------------------


class Run(NamedTuple):
    label: str                   # expected state, then the scenario
    scenario: Dict[str, Any]
    probe: Any
    args: Tuple[str, ...]
    error_type: Optional[str] = None


JOBS = {"job_speed": 60, "job_duration": 30}
BIG = [f"vm-{index:03d}" for index in range(120)]
LONG_REASON = "Failure reason: " + "the media agent did not answer in time; " * 15
RUNS = (
    Run("ok-life", {}, check_iaso_life, ("-w", "1", "-c", "2")),
    Run("ok-life-slow-answer", {"endpoints": {"life": {"latency": 0.3}}}, check_iaso_life, ()),
    Run("ok-health", {}, check_iaso_health, ()),
    Run("ok-response-time", {}, check_iaso_response_time, ("-n", "2")),
    Run("ok-auth", {}, check_iaso_auth, ()),
    Run("ok-backup-host", JOBS, check_iaso_backup, ("-H", "vm-a", "--wait")),
    Run("ok-backup-launched", JOBS, check_iaso_backup, ("-H", "vm-f")),
    Run("ok-restore", JOBS, check_iaso_restore, ("-R", "r", "--wait")),
    Run("warn-response-time-slow", {"endpoints": {"life": {"latency": 0.1}}},
        check_iaso_response_time, ("-w", "0.05", "-c", "5")),
    Run("warn-backup-completed-with-warnings", {**JOBS, "hosts": {"vm-w": {"outcome": "warnings"}}},
        check_iaso_backup, ("-H", "vm-w", "--wait")),
    Run("crit-life-http-503", {"endpoints": {"life": {"status": 503}}}, check_iaso_life, (),
        "ApiStatusError"),
    Run("crit-life-timeout", {"endpoints": {"life": {"hang": True}}}, check_iaso_life,
        ("-t", "1"), "ApiTimeout"),
    Run("crit-health-component-down", {"components": {"vcenter": "unhealthy"}},
        check_iaso_health, ()),
    Run("crit-response-time-http-500", {"endpoints": {"life": {"status": 500}}},
        check_iaso_response_time, (), "ApiStatusError"),
    Run("crit-auth-refused", {"reject_logins": True}, check_iaso_auth, (),
        "AuthenticationRejected"),
    Run("crit-backup-set-one-failed",
        {**JOBS, "hosts": {"vm-b": {"outcome": "failed", "at_percent": 50,
                                    "reason": "disk full"}}},
        check_iaso_backup, ("-S", "pair", "--wait")),
    Run("crit-restore-failed", {**JOBS, "hosts": {"vm-b": {"outcome": "failed",
                                                           "at_percent": 40}}},
        check_iaso_restore, ("-R", "rb", "--wait")),
    Run("crit-health-malformed-answer", {"endpoints": {"health": {"body": "malformed"}}},
        check_iaso_health, (), "NotJson"),
    Run("crit-backup-big-set-all-failed-record-made-to-fit",
        {**JOBS, "hosts": {host: {"outcome": "failed", "at_percent": 10, "reason": LONG_REASON}
                           for host in BIG}},
        check_iaso_backup, ("-S", "big", "--wait", "-t", "20")),
    Run("unknown-environment-not-configured", {}, check_iaso_life, ("-E", "nosuch"),
        "ConfigError"),
)


class Written(NamedTuple):
    record: Dict[str, Any]
    before: float                # wall clock just before and just after the run
    after: float
    first_line: str


@pytest.fixture(scope="module")
def written(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Written]:
    """The record of each run of RUNS, with the wall-clock window it was made in."""
    tmp_path = tmp_path_factory.mktemp("ecs")
    config = write_config(tmp_path, simulator.url, extra={
        "jobs": {"state_dir": str(tmp_path / "state"), "poll_interval": 0.2},
        "backup_sets": {"pair": [{"hostname": "vm-a", "level": "incremental"},
                                 {"hostname": "vm-b", "level": "full"}],
                        "big": [{"hostname": host, "level": "full"} for host in BIG]},
        "restores": {
            "r": {"hostname": "vm-a", "file_name": "f", "source_path": "/", "destination": "/tmp"},
            "rb": {"hostname": "vm-b", "file_name": "f", "source_path": "/",
                   "destination": "/tmp"}}})
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"results": str(tmp_path / "results.jsonl")}
    config.write_text(yaml.safe_dump(data))
    log = tmp_path / "results.jsonl"
    found: Dict[str, Written] = {}
    try:
        for run in RUNS:
            play(simulator, run.scenario)
            simulator.reset()
            lines = len(log.read_text().splitlines()) if log.exists() else 0
            before = time.time()
            outcome = run.probe.probe.run(["-C", str(config), *run.args])
            after = time.time()
            new = log.read_text().splitlines()[lines:]
            assert len(new) == 1, (run.label, outcome.output)
            found[run.label] = Written(json.loads(new[0]), before, after, outcome.first_line)
    finally:
        play(simulator, {})
        simulator.reset()
    return found


LABELS = [run.label for run in RUNS]
STATE_OF_PREFIX = {"ok": "OK", "warn": "WARNING", "crit": "CRITICAL", "unknown": "UNKNOWN"}
BY_LABEL = {run.label: run for run in RUNS}


@pytest.mark.parametrize("label", LABELS)
def test_record_is_ecs_and_mapped(label: str, written: Dict[str, Written], ecs: Fields) -> None:
    record = written[label].record
    expected = STATE_OF_PREFIX[label.split("-", 1)[0]]
    assert record["iaso"]["state"]["name"] == expected, written[label].first_line
    problems = record_problems(record, ecs, mapped_fields()) + categorisation_problems(record, ecs)
    assert problems == []


def test_ok_records_cover_jobs_components_errors_and_every_probe(
        written: Dict[str, Written]) -> None:
    paths = {path for w in written.values() for path, _ in fields_of(w.record)}
    assert {"ecs.version", "error.type", "error.message", "iaso.jobs.status",
            "iaso.jobs.percent", "iaso.components.name", "iaso.unhealthy_components",
            "iaso.targets", "iaso.response_time_s"} <= paths
    assert {w.record["iaso"]["probe"] for w in written.values()} == {
        f"check_iaso_{name}" for name in
        ("life", "health", "response_time", "auth", "backup", "restore")}
    assert {len(w.record["iaso"].get("jobs", [])) for w in written.values()} >= {0, 1, 2}


def test_ok_ecs_version_is_the_pinned_one(written: Dict[str, Written], ecs: Fields) -> None:
    assert {w.record["ecs"]["version"] for w in written.values()} == {ECS_VERSION}
    template = json.loads((ELK / "index-template.json").read_text())
    assert template["_meta"]["ecs_version"] == ECS_VERSION
    assert ecs["ecs.version"]["required"] is True and ecs["@timestamp"]["required"] is True


@pytest.mark.parametrize("label", LABELS)
def test_timestamp_and_duration_mean_what_ecs_says(label: str,
                                                   written: Dict[str, Written]) -> None:
    """@timestamp: the run's start, UTC, inside the window the test saw; event.duration: the
    run's length in nanoseconds, no longer than that window."""
    w = written[label]
    started = datetime.datetime.strptime(w.record["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ") \
        .replace(tzinfo=datetime.timezone.utc).timestamp()
    assert w.before - 0.001 <= started <= w.after
    duration = w.record["event"]["duration"]
    assert 0 < duration <= (w.after - w.before) * 1e9
    assert abs(duration - w.record["iaso"]["duration_s"] * 1e9) < 1000


def test_ok_event_duration_counts_nanoseconds(written: Dict[str, Written]) -> None:
    """The life endpoint answered after 0.3 s: the run lasted at least 300,000,000 ns."""
    assert written["ok-life-slow-answer"].record["event"]["duration"] >= 300_000_000


def test_ok_host_hostname_is_what_the_hostname_command_says(
        written: Dict[str, Written]) -> None:
    command = shutil.which("hostname")
    expected = (subprocess.run([command], capture_output=True, text=True, check=True)
                .stdout.strip() if command else socket.gethostname())
    assert {w.record["host"]["hostname"] for w in written.values()} == {expected}


@pytest.mark.parametrize("label", LABELS)
def test_outcome_service_and_error_follow_the_run(label: str,
                                                  written: Dict[str, Written]) -> None:
    record = written[label].record
    state = record["iaso"]["state"]["name"]
    assert record["event"]["outcome"] == {"OK": "success", "UNKNOWN": "unknown"}.get(state,
                                                                                   "failure")
    assert record["event"]["kind"] == "state"
    assert record["event"]["dataset"].startswith(record["event"]["module"] + ".")
    assert record["service"]["name"] == "IASO" and record["service"]["type"] == "iaso"
    if label.startswith("unknown-environment"):
        assert "environment" not in record["service"]
    else:
        assert record["service"]["environment"] == record["iaso"]["environment"] == "lab"
    expected_error = BY_LABEL[label].error_type
    if expected_error is None:
        assert "error" not in record or state != "OK"
    else:
        assert record["error"]["type"] == expected_error
        assert record["error"]["message"] and record["error"]["message"] in written[
            label].first_line


def test_ok_results_log_page_documents_every_field_with_ecs_names(
        written: Dict[str, Written], ecs: Fields) -> None:
    page = (ROOT / "docs" / "results-log.md").read_text()
    table = page[page.index("## Results log fields"):page.index("## Elastic Common Schema")]
    documented = {name for row in table.splitlines() if row.startswith("| `")
                  for name in re.findall(r"`([@\w.\[\]]+)`", row.split("|")[1])}
    assert [n for n in documented if not n.startswith("iaso.") and n not in ecs] == []
    lists = {name[:-2] for name in documented if name.endswith("[]")}
    paths = {path for w in written.values() for path, _ in fields_of(w.record)}
    assert [p for p in paths if p not in documented and p.rsplit(".", 1)[0] not in lists] == []
    assert f"`{ECS_VERSION}`" in table


def test_ok_non_finite_numbers_become_null_and_the_line_stays_json(ecs: Fields) -> None:
    """An API can announce 1e999 seconds (Python reads it as infinity): JSON cannot carry it
    and Elasticsearch would refuse the whole record, so the record says null."""
    metric = {"name": "time", "value": math.inf, "unit": "s", "min": 0, "max": None,
              "warning": None, "critical": None}
    job = {"host": "vm-a", "label": "vm-a", "job_id": "1", "status": "Running",
           "percent": math.nan, "duration_s": -math.inf, "state": "OK", "reason": None,
           "ended": False, "summary": "vm-a (job 1): Running"}
    record = build_record(probe="check_iaso_backup", environment="lab", started=1e9,
                          duration=0.25, code=0, summary="lab: 1 in progress", metrics=[metric],
                          jobs=[job], components=[], error=None)
    line = json.dumps(record, allow_nan=False)
    assert record["iaso"]["metrics"][0]["value"] is None
    assert record["iaso"]["jobs"][0]["percent"] is record["iaso"]["jobs"][0]["duration_s"] is None
    assert record_problems(json.loads(line), ecs, mapped_fields()) == []
    assert record["event"]["duration"] == 250_000_000
    assert record["@timestamp"] == "2001-09-09T01:46:40.000Z"


def test_unknown_internal_error_without_text_takes_the_status_line(ecs: Fields) -> None:
    record = build_record(probe="check_iaso_life", environment=None, started=1e9, duration=0.1,
                          code=3, summary="internal error: KeyError", metrics=[], jobs=[],
                          components=[], error=KeyError())
    assert record["error"] == {"type": "KeyError", "message": "internal error: KeyError"}
    assert "environment" not in record["service"]
    assert record_problems(record, ecs, mapped_fields()) == []


# --- the index template, the dashboard, the shippers ------------------------------------------


def test_ok_template_maps_ecs_fields_as_ecs_does(ecs: Fields) -> None:
    mapping = mapped_fields()
    problems = []
    for path, spec in mapping.items():
        if path.startswith("iaso."):
            continue
        parent = path.rsplit(".", 1)[0]
        if path not in ecs and parent in mapping:
            ours = {m["name"]: m["type"] for m in ecs.get(parent, {}).get("multi_fields", [])}
            if ours.get(path.rsplit(".", 1)[1]) != spec["type"]:
                problems.append(f"{path}: a multi-field ECS does not define")
            continue
        if path not in ecs:
            problems.append(f"{path}: not an ECS {ECS_VERSION} field")
            continue
        definition = ecs[path]
        if spec["type"] != definition["type"]:
            problems.append(f"{path}: mapped {spec['type']}, ECS says {definition['type']}")
        if spec.get("ignore_above") != definition.get("ignore_above"):
            problems.append(f"{path}: ignore_above {spec.get('ignore_above')}, ECS says "
                            f"{definition.get('ignore_above')}")
    assert problems == []
    assert not [name for name in ecs if name.split(".")[0] == "iaso"]
    assert len([p for p in mapping if not p.startswith("iaso.")]) >= 13


def test_ok_template_maps_every_written_field_and_nothing_else(
        written: Dict[str, Written]) -> None:
    paths = {path for w in written.values() for path, _ in fields_of(w.record)}
    mapping = mapped_fields()
    leaves = {path for path in mapping if "." not in path or path.rsplit(".", 1)[0] not in mapping}
    assert paths - leaves == set()
    assert leaves - paths == set()


KQL_FIELD = re.compile(r"([@A-Za-z_][\w.@]*)\s*:\s*\(?\s*([^\s()]+)")


def dashboard_fields() -> Iterator[Tuple[str, str, Optional[str]]]:
    """(saved object, field, value compared in a query or None) for every field it names."""
    for line in (ELK / "kibana-dashboard.ndjson").read_text().splitlines():
        if not line.strip():
            continue
        saved = json.loads(line)
        attributes = saved["attributes"]
        if "timeFieldName" in attributes:
            yield saved["id"], attributes["timeFieldName"], None
        if "visState" in attributes:
            for agg in json.loads(attributes["visState"])["aggs"]:
                if "field" in agg["params"]:
                    yield saved["id"], agg["params"]["field"], None
        meta = attributes.get("kibanaSavedObjectMeta", {})
        query = json.loads(meta.get("searchSourceJSON", "{}")).get("query", {}).get("query", "")
        for field, value in KQL_FIELD.findall(query):
            yield saved["id"], field, value


def test_ok_dashboard_names_only_ecs_or_iaso_fields_that_are_mapped(ecs: Fields) -> None:
    mapping = mapped_fields()
    named = list(dashboard_fields())
    problems = []
    for saved, field, value in named:
        if field not in mapping:
            problems.append(f"{saved}: {field} is not mapped")
        if not field.startswith("iaso.") and field not in ecs:
            problems.append(f"{saved}: {field} is neither ECS nor ours")
        allowed = {v["name"] for v in ecs.get(field, {}).get("allowed_values", [])}
        if value is not None and allowed and value not in allowed:
            problems.append(f"{saved}: {field} : {value} is not an ECS value")
    assert problems == []
    assert {"event.outcome", "error.type", "@timestamp"} <= {field for _, field, _ in named}


def logstash_fields() -> Tuple[List[str], List[str]]:
    """(fields the pipeline reads or converts, fields it removes), from the pipeline's code."""
    text = (ELK / "logstash.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    used = [".".join(re.findall(r"\[([@\w]+)\]", reference))
            for reference in re.findall(r"(?:\[[@\w]+\])+", code)]
    used += re.findall(r'match\s*=>\s*\[\s*"([@\w.]+)"', code)
    removed = [name for names in re.findall(r"remove_field\s*=>\s*\[([^]]*)\]", code)
               for name in re.findall(r'"([@\w.]+)"', names)]
    return used, removed


def test_ok_logstash_uses_ecs_and_iaso_fields_and_drops_the_rest(ecs: Fields) -> None:
    mapping = mapped_fields()
    used, removed = logstash_fields()
    assert [f for f in used if f not in mapping or not (f.startswith("iaso.") or f in ecs)] \
        == []
    assert [f for f in removed if f in ecs or f in mapping] == []
    assert "@timestamp" in used and "@version" in removed


def test_ok_filebeat_keeps_our_keys_and_drops_only_its_own_bookkeeping(ecs: Fields) -> None:
    filebeat = yaml.safe_load((ELK / "filebeat.yml").read_text())
    (stream,) = filebeat["filebeat.inputs"]
    ndjson = stream["parsers"][0]["ndjson"]
    assert ndjson["target"] == "" and ndjson["overwrite_keys"] is True
    (drop,) = [p["drop_fields"] for p in stream["processors"] if "drop_fields" in p]
    mapping = mapped_fields()
    assert drop["fields"] and drop["ignore_missing"] is True
    assert [f for f in drop["fields"] if f in ecs or f in mapping] == []


# --- the checks above catch what they claim to catch -------------------------------------------


GOOD: Dict[str, Any] = {
    "@timestamp": "2026-11-25T10:00:00.123Z", "ecs": {"version": ECS_VERSION},
    "event": {"kind": "state", "dataset": "iaso.probe", "module": "iaso",
              "duration": 12_000_000, "outcome": "failure"},
    "service": {"name": "IASO", "type": "iaso", "environment": "lab"},
    "host": {"hostname": "nagios-01"},
    "error": {"type": "ApiTimeout", "message": "no answer within 1 s"},
    "iaso": {"probe": "check_iaso_life", "state": {"name": "CRITICAL", "code": 2},
             "jobs": [{"host": "vm-a", "percent": 50.0, "ended": False}]},
}


def broken(change: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    record = json.loads(json.dumps(GOOD))
    change(record)
    return record


BROKEN: Sequence[Tuple[str, Callable[[Dict[str, Any]], None], str]] = (
    ("unknown-ecs-name", lambda r: r["event"].update(probe="x"), "not an ECS"),
    ("custom-field-outside-iaso", lambda r: r.update(probe="x"), "not an ECS"),
    ("ecs-object-given-a-value", lambda r: r.update(host="nagios-01"), "object"),
    ("duration-not-whole", lambda r: r["event"].update(duration=0.012), "whole number"),
    ("duration-as-text", lambda r: r["event"].update(duration="12ms"), "whole number"),
    ("duration-beyond-long", lambda r: r["event"].update(duration=2 ** 63), "outside long"),
    ("kind-not-allowed", lambda r: r["event"].update(kind="check"), "allowed values"),
    ("outcome-not-allowed", lambda r: r["event"].update(outcome="ok"), "allowed values"),
    ("category-not-a-list", lambda r: r["event"].update(category="api", type=["info"]),
     "an array"),
    ("category-not-allowed", lambda r: r["event"].update(category=["backup"], type=["info"]),
     "allowed values"),
    ("type-unexpected-for-category",
     lambda r: r["event"].update(category=["authentication"], type=["creation"]), "expected"),
    ("timestamp-without-zone", lambda r: r.update({"@timestamp": "2026-11-25T10:00:00.123"}),
     "ISO 8601"),
    ("timestamp-as-epoch-seconds", lambda r: r.update({"@timestamp": 1795600000}), "ISO 8601"),
    ("ecs-null", lambda r: r["service"].update(environment=None), "null"),
    ("keyword-past-ignore-above", lambda r: r["host"].update(hostname="h" * 1025),
     "not indexed"),
    ("scalar-field-given-a-list", lambda r: r["error"].update(type=["A", "B"]),
     "single value"),
    ("custom-name-not-snake-case", lambda r: r["iaso"].update(jobCount=1), "snake case"),
    ("custom-field-unmapped", lambda r: r["iaso"].update(extra=1), "not mapped"),
    ("custom-field-wrong-type", lambda r: r["iaso"]["jobs"][0].update(percent="half"),
     "finite number"),
    ("custom-field-not-finite", lambda r: r["iaso"]["jobs"][0].update(percent=math.inf),
     "finite number"),
    ("byte-overflow", lambda r: r["iaso"]["state"].update(code=300), "outside byte"),
)


def test_ok_checker_accepts_a_good_record(ecs: Fields) -> None:
    assert record_problems(GOOD, ecs, mapped_fields()) == []


@pytest.mark.parametrize("change,expected", [(c, e) for _, c, e in BROKEN],
                         ids=[f"crit-{name}" for name, _, _ in BROKEN])
def test_checker_rejects(change: Callable[[Dict[str, Any]], None], expected: str,
                         ecs: Fields) -> None:
    record = broken(change)
    problems = record_problems(record, ecs, mapped_fields()) + categorisation_problems(record,
                                                                                       ecs)
    assert any(expected in problem for problem in problems), problems
