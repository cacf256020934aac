"""Property-based tests of the parsing code: whatever the input, only our own exceptions."""
from __future__ import annotations

import string
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libiaso.api.answers import ABSENT, JobStatus, field, lookup, parse_json
from libiaso.config.settings import JobSettings, parse_config, read_yaml
from libiaso.errors import ConfigError, FieldError, PayloadError
from libiaso.jobs.outcomes import DEFAULT_OUTCOMES, OutcomeTable, judge
from libiaso.jobs.track import JobTrack
from libiaso.run.output import OUTPUT_LIMIT, render
from libiaso.run.runner import NagiosRange

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
yaml_keys = st.sampled_from(["environments", "defaults", "logging", "base_url", "credentials",
                             "username", "password_file", "tls", "verify", "profile",
                             "endpoints", "life", "path", "method", "jobs", "timeouts",
                             "read", "health_severity", "backup_sets", "restores", "x"])
config_like = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(yaml_keys | st.text(max_size=6), inner, max_size=4), max_leaves=25)


@SETTINGS
@given(st.text(alphabet=string.printable + "∞@~:", max_size=12))
def test_ok_range_syntax_fails_only_as_a_usage_error(text: str) -> None:
    try:
        NagiosRange().convert(text, None, None)
    except click.BadParameter:
        pass


@SETTINGS
@given(config_like)
def test_ok_config_loading_raises_only_config_errors(data: Any) -> None:
    try:
        parse_config(data, "/etc/iaso-probes/iaso.yaml")
    except ConfigError:
        pass


@SETTINGS
@given(st.binary(max_size=200))
def test_ok_yaml_reading_raises_only_config_errors(tmp_path_factory: pytest.TempPathFactory,
                                                   raw: bytes) -> None:
    path = tmp_path_factory.mktemp("yaml") / "iaso.yaml"
    path.write_bytes(raw)
    try:
        read_yaml(str(path))
    except ConfigError:
        pass


@SETTINGS
@given(json_values, st.text(alphabet="ab.0123", max_size=8),
       st.sampled_from(["int", "number", "str", "bool", "list", "object", "id", "components"]),
       st.booleans())
def test_ok_dotted_paths_raise_only_field_errors(document: Any, dotted: str, kind: str,
                                                 required: bool) -> None:
    lookup(document, dotted)
    try:
        value = field(document, dotted, kind, required=required)
    except FieldError as exc:
        assert exc.field == dotted
    else:
        assert value is not ABSENT


@SETTINGS
@given(st.binary(max_size=300) | json_values.map(lambda v: repr(v).encode()))
def test_ok_answer_parsing_raises_only_payload_errors(raw: bytes) -> None:
    try:
        document = parse_json(raw, url="http://127.0.0.1/x", status=200, elapsed=0.0)
    except PayloadError:
        return
    assert isinstance(document, dict)


statuses = st.sampled_from(sorted(DEFAULT_OUTCOMES)) | st.text(max_size=30)
numbers = st.none() | st.floats(min_value=0, max_value=100) | st.integers(0, 100)


@SETTINGS
@given(st.lists(st.tuples(statuses, numbers, st.none() | st.floats(0, 1e6),
                          st.none() | st.text(max_size=30)), min_size=1, max_size=5),
       st.floats(0, 1e7), st.dictionaries(st.text(max_size=20), st.sampled_from(
           ["ok", "warning", "critical", "running", "waiting"]), max_size=3))
def test_ok_job_status_mapping_never_raises(snapshots: Any, later: float,
                                            overrides: Any) -> None:
    table = OutcomeTable(overrides)
    track = JobTrack("vm-a", "vm-a", 7, 1000.0)
    for index, (status, percent, elapsed, reason) in enumerate(snapshots):
        track.observe(JobStatus(7, "vm-a", status, percent, elapsed, None, reason),
                      1000.0 + index, table.category(status))
    verdict = judge(track, table, JobSettings(),
                    1000.0 + later)
    assert verdict.state in (0, 1, 2, 3) and "\n" not in verdict.short


@SETTINGS
@given(st.text(max_size=600), st.lists(st.text(max_size=400), max_size=40),
       st.integers(0, 3), st.lists(st.from_regex(r"[a-z_]{1,19}=[0-9.]{1,8}s?", fullmatch=True),
                                   max_size=6))
def test_ok_output_is_always_one_safe_bounded_status_line(summary: str, lines: Any, code: int,
                                                         perfdata: Any) -> None:
    output = render("IASO LIFE", code, summary, perfdata, lines)
    first, _, rest = output.partition("\n")
    text = first.partition(" | ")[0] if perfdata else first
    assert "|" not in text and not any(ord(c) < 32 for c in first)
    assert len(output.encode()) <= OUTPUT_LIMIT + len(" ".join(perfdata)) + 500
    assert all(not any(ord(c) < 32 and c != "\n" for c in line) for line in rest.split("\n"))
