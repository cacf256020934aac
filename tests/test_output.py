"""Output sanitising and bounds, dotted paths and templates of the API profile."""
from __future__ import annotations

from typing import Any

import pytest

from libiaso.api.answers import ABSENT, field, lookup
from libiaso.config.profile import Endpoint
from libiaso.errors import MissingField, WrongType
from libiaso.redaction import Redactor
from libiaso.run.output import OUTPUT_LIMIT, clean_text, render


def test_ok_status_line_has_no_pipe_control_or_newline() -> None:
    output = render("IASO LIFE", 2, "bad | thing\r\nInjected: header\x00", ["time=1s"])
    first, rest = output.split("\n", 1)
    assert first == "IASO LIFE CRITICAL - bad / thing Injected: header | time=1s"
    assert rest == ""


def test_ok_long_output_is_cut_whole_lines_under_the_limit() -> None:
    lines = [f"component-{i}: " + "x" * 200 for i in range(100)]
    output = render("IASO HEALTH", 0, "fine", ["a=1"], lines)
    assert len(output.encode()) <= OUTPUT_LIMIT
    assert output.rstrip("\n").splitlines()[-1].endswith("more lines not shown)")


def test_ok_secrets_are_masked_everywhere() -> None:
    redact = Redactor()
    redact.add("s3cr3t")
    output = render("IASO AUTH", 2, "echo s3cr3t", [], ["line with s3cr3t"], redact)
    assert "s3cr3t" not in output and output.count("***") == 2


def test_ok_overlong_status_is_cut() -> None:
    assert len(clean_text("y" * 1000, 400)) == 400


@pytest.mark.parametrize("document, path, expected", [
    ({"a": {"b": [{"c": 5}]}}, "a.b.0.c", 5),
    ({"a": [1, 2]}, "a.1", 2),
    ({"a": None}, "a", None),
    ({"a": 1}, "a.b", ABSENT),
    ({"a": [1]}, "a.3", ABSENT),
    ({"a": [1]}, "a.-1", ABSENT),
    ([1], "0", 1),
])
def test_ok_dotted_lookup(document: Any, path: str, expected: Any) -> None:
    assert lookup(document, path) is expected or lookup(document, path) == expected


@pytest.mark.parametrize("value, kind", [
    ("200", "int"), (True, "int"), (1.5, "str"), (None, "number"), ([], "object"),
    (float("nan"), "number"), (False, "id"),
])
def test_crit_field_of_the_wrong_type(value: Any, kind: str) -> None:
    with pytest.raises(WrongType) as caught:
        field({"f": value}, "f", kind)
    assert caught.value.field == "f"


def test_crit_missing_field_names_its_path() -> None:
    with pytest.raises(MissingField, match=r"no field 'a\.b'"):
        field({"a": {}}, "a.b", "int")
    assert field({"a": {}}, "a.b", "int", required=False) is None


def test_ok_templates_keep_types_and_quote_paths() -> None:
    endpoint = Endpoint(role="job", method="POST", path="/jobs/{job_id}/hosts/{hostname}",
                        auth=True, body={"jobId": "{job_id}", "note": "job {job_id}",
                                         "list": ["{hostname}"]}, fields={})
    params = {"job_id": 42, "hostname": "vm a/b"}
    assert endpoint.render_path(params) == "/jobs/42/hosts/vm%20a%2Fb"
    assert endpoint.render_body(params) == {"jobId": 42, "note": "job 42", "list": ["vm a/b"]}
    assert endpoint.parameters() == ("hostname", "job_id")
