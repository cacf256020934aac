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
    assert output.rstrip("\n").splitlines()[-1].endswith("more lines not shown: output bound)")


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


# --- Unicode that a reader takes for a line end or that reorders text --------------------------

BREAKERS = ["\u0085", "\u009b", "\u2028", "\u2029", "\u202e", "\u2066", "\x1c", "\x0b",
            "\x0c", "\ufeff", "\u200f", "\r", "\x00"]


@pytest.mark.parametrize("char", BREAKERS, ids=[f"U+{ord(c):04X}" for c in BREAKERS])
def test_ok_no_unicode_line_breaker_or_bidi_control_reaches_the_output(char: str) -> None:
    text = f"commserve{char}IASO HEALTH OK - INJECTED"
    output = render("IASO HEALTH", 2, f"1 unhealthy: {text}", [f"'{text}'=1"], [text, text])
    assert char not in output
    lines = output.splitlines()
    assert len(lines) == 3 and not any(line.startswith("IASO HEALTH OK") for line in lines)


def test_crit_injected_component_name_forges_no_line_through_the_health_probe(
        sim: Any, config: Any) -> None:
    from conftest import play

    from iaso_probes.check_iaso_health import probe

    play(sim, {"components": {f"x{c}IASO HEALTH OK - INJECTED": "unhealthy" for c in BREAKERS}})
    outcome = probe.run(["-C", str(config)])
    assert outcome.code == 2
    for char in BREAKERS:
        assert char not in outcome.output
    assert not any(line.startswith("IASO HEALTH OK") for line in outcome.output.splitlines())


# --- the whole output stays under the documented limit -----------------------------------------

@pytest.mark.parametrize("targets", [1, 40, 400, 4000])
def test_ok_output_stays_under_the_limit_whatever_the_perfdata(targets: int) -> None:
    perfdata = ["jobs_ok=3;;;0;3", "auth_time=0.1s;;;0"] + [
        f"dur_host_{i:05d}=1234s;3600;7200;0" for i in range(targets)]
    lines = [f"OK host-{i}: Completed after 0:20:34" for i in range(targets)]
    output = render("IASO BACKUP", 0, "all fine " * 100, perfdata, lines)
    assert len(output.encode("utf-8")) <= OUTPUT_LIMIT
    first = output.split("\n", 1)[0]
    assert "jobs_ok=3;;;0;3 auth_time=0.1s;;;0" in first   # the aggregates, given first, stay
    if targets > 40:
        assert "performance values not shown" in output


# --- stdout that cannot be written, and any locale -----------------------------------------------

def _probe(config: Any, **kwargs: Any) -> Any:
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.update(kwargs.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "iaso_probes.check_iaso_health", "-C",
                             str(config)], env=env, stderr=subprocess.PIPE, **kwargs)


def test_unknown_stdout_closed_early_exits_3_quietly(sim: Any, config: Any) -> None:
    import subprocess

    process = _probe(config, stdout=subprocess.PIPE)
    process.stdout.close()   # the reader is gone before the probe writes: EPIPE
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 3 and stderr == b""


def test_unknown_stdout_on_a_full_disk_exits_3_quietly(sim: Any, config: Any) -> None:
    with open("/dev/full", "wb") as full:
        process = _probe(config, stdout=full)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 3 and stderr == b""


def test_crit_non_ascii_output_is_written_whatever_the_locale(sim: Any, config: Any) -> None:
    import subprocess

    from conftest import play

    play(sim, {"components": {"m\u00e9dia-agent-\u00e9t\u00e9": "unhealthy"}})
    process = _probe(config, stdout=subprocess.PIPE,
                     env={"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0",
                          "PYTHONIOENCODING": ""})
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2 and stderr == b""
    assert "m\u00e9dia-agent-\u00e9t\u00e9" in stdout.decode("utf-8")
