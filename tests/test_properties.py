"""Property-based tests: what each parser accepts, and what what it accepts means.

Every property checks the code against a specification written outside it, on generated input:
the range syntax and alert rule of the Monitoring Plugins guidelines (the grammar as
draft-kaestle-monitoring-plugins-interface writes it: NUMERAL = ["-"] 1*DIGIT ["." 1*DIGIT]);
a configuration document that loads gives back the values it wrote (docs/configuration.md),
and one with a single fault is refused naming the key at fault; a YAML mapping naming a key
twice is no YAML 1.2 document; a JSON body (RFC 8259) gives back the fields it carried, and a
body that is not a JSON object is refused for the reason it has; a field is read as the API
contract's dotted path and kind say; the rendered output is one status line carrying the
summary, perfdata kept in order within its budget, at most 4,000 bytes, nothing a reader could
take for another line, no secret (docs/reliability.md). Hypothesis runs derandomized: CI sees
the same examples every time.
"""
from __future__ import annotations

import json
import math
import os
import re
import string
import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click
import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from libiaso.api.answers import field, parse_json
from libiaso.config.settings import load_config, parse_config, read_yaml
from libiaso.errors import ConfigError, MissingField, NotJson, WrongType
from libiaso.jobs.outcomes import DEFAULT_OUTCOMES, OutcomeTable
from libiaso.redaction import Redactor
from libiaso.run.output import OUTPUT_LIMIT, PERFDATA_LIMIT, render
from libiaso.run.runner import NagiosRange

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
# Whole configuration documents are large: fewer of them, and a failure is shown as generated
# (shrinking one takes minutes).
DOCUMENT_SETTINGS = settings(SETTINGS, max_examples=40,
                             phases=(Phase.explicit, Phase.reuse, Phase.generate))
URL = "http://127.0.0.1/x"

# --- Nagios ranges -----------------------------------------------------------------------------

NUMERAL = r"-?[0-9]+(?:\.[0-9]+)?"
RANGE = re.compile(rf"(@)?(?:({NUMERAL})|({NUMERAL}|~):({NUMERAL})?)")


def guideline_range(text: str) -> Optional[Tuple[bool, float, float]]:
    """(alert inside, start, end) if ``text`` is a range as the guidelines write one."""
    match = RANGE.fullmatch(text)
    if match is None:
        return None
    inside, end_only, start, end = match.groups()
    if end_only is not None:
        low, high = 0.0, float(end_only)
    else:
        low = -math.inf if start == "~" else float(start)
        high = math.inf if end is None else float(end)
    if low > high:
        return None
    return bool(inside), low, high


def guideline_alert(bounds: Tuple[bool, float, float], value: float) -> bool:
    """The guidelines: outside start..end alerts; with '@', inside start..end (ends included)."""
    inside, low, high = bounds
    within = low <= value <= high
    return within if inside else not within


def accepted(text: str) -> Any:
    try:
        return NagiosRange().convert(text, None, None)
    except click.BadParameter:
        return None


numerals = st.builds(lambda negative, whole, fraction: ("-" if negative else "") + str(whole)
                     + (f".{fraction}" if fraction else ""),
                     st.booleans(), st.integers(0, 10**6),
                     st.none() | st.from_regex(r"[0-9]{1,3}", fullmatch=True))


@st.composite
def guideline_ranges(draw: Any) -> str:
    low, high = sorted((draw(numerals), draw(numerals)), key=float)
    form = draw(st.sampled_from(["end", "start:", "start:end", "~:end", "~:"]))
    body = {"end": high if float(high) >= 0 else None, "start:": f"{low}:",
            "start:end": f"{low}:{high}", "~:end": f"~:{high}", "~:": "~:"}[form]
    if body is None:   # a lone end is 0..end: it must not be below 0
        body = f"{low}:{high}"
    return ("@" if draw(st.booleans()) else "") + body


@SETTINGS
@given(guideline_ranges(), st.lists(st.floats(-2e6, 2e6), max_size=5))
def test_ok_every_guideline_range_is_accepted_and_alerts_as_the_guidelines_say(
        text: str, values: List[float]) -> None:
    bounds = guideline_range(text)
    assert bounds is not None, text
    parsed = accepted(text)
    assert parsed is not None, f"{text!r} is a valid range"
    _, low, high = bounds
    probes = [v for v in (low, high, 0.0) if math.isfinite(v)] + values
    probes += [v + d for v in (low, high) if math.isfinite(v) for d in (-0.001, 0.001)]
    for value in probes:
        assert (not parsed.match(value)) == guideline_alert(bounds, value), (text, value)


@SETTINGS
@given(st.text(alphabet="0123456789.-~:@ +e_n", max_size=9)
       | st.sampled_from(["nan", "inf", "-inf", "1e3", "0x10", "\uff11\uff10", "\u0663",
                          "10:nan", "5:-inf"]))
@example("")
@example("@")
@example(":")
@example("+5")
@example(".5")
@example("5.")
@example("1_0")
@example(" 5")
@example("\uff11\uff10")
def test_unknown_a_range_is_accepted_exactly_when_the_guidelines_write_it(text: str) -> None:
    """Anything else is a usage error (UNKNOWN): '' from an empty macro must not silently
    mean 'never alert', nor '1_0' or fullwidth digits mean 10."""
    valid = guideline_range(text) is not None
    assert (accepted(text) is not None) == valid, \
        f"{text!r}: {'refused' if valid else 'accepted'}, the guidelines say " \
        f"{'valid' if valid else 'not a range'}"


# --- configuration -------------------------------------------------------------------------

CONFIG_PATH = "/etc/iaso-probes/iaso.yaml"
names = st.from_regex(r"[a-z][a-z0-9_-]{0,11}", fullmatch=True)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,8}){0,2}", fullmatch=True)
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=16)
relative_files = st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8}){0,2}\.[a-z]{2,4}", fullmatch=True)
files = relative_files | relative_files.map(lambda p: "/" + p)
positive = st.floats(min_value=1e-3, max_value=1e7) | st.integers(1, 10**7)


@st.composite
def environments(draw: Any) -> Dict[str, Any]:
    url = (f"{draw(st.sampled_from(['http', 'https']))}://{draw(hosts)}"
           + (f":{draw(st.integers(1, 65535))}" if draw(st.booleans()) else "")
           + draw(st.from_regex(r"(/[a-z0-9_-]{1,8}){0,3}/?", fullmatch=True)))
    poll = draw(positive)
    stall = draw(positive)
    environment: Dict[str, Any] = {
        "base_url": url,
        "credentials": {"username": draw(texts), "password_file": draw(files)},
        "tls": {"verify": draw(st.booleans()), "ca_bundle": draw(files)},
        "proxy": draw(st.sampled_from(["none", "environment", "http://proxy.example:3128"])),
        "timeouts": {"connect": draw(positive), "read": draw(positive)},
        "max_body_bytes": draw(st.integers(1024, 10**9)),
        "health_severity": draw(st.dictionaries(names, st.sampled_from(["warning", "critical"]),
                                                max_size=3)),
        "jobs": {"state_dir": draw(files), "poll_interval": poll,
                 "max_poll_interval": poll + draw(st.integers(0, 100)),
                 "pool_size": draw(st.integers(1, 64)), "stall_warning": stall,
                 "stall_critical": stall + draw(st.integers(0, 3600)),
                 "pending_warning": draw(positive), "backup_interval": draw(positive),
                 "restore_interval": draw(positive),
                 "outcomes": draw(st.dictionaries(texts, st.sampled_from(
                     ["ok", "warning", "critical", "running", "waiting"]), max_size=3))},
        "backup_sets": draw(st.dictionaries(names, st.lists(st.fixed_dictionaries(
            {"hostname": hosts, "level": st.sampled_from(["full", "incremental"])}),
            min_size=1, max_size=3), max_size=2)),
        "restores": draw(st.dictionaries(names, st.fixed_dictionaries(
            {"hostname": hosts, "file_name": texts, "source_path": files,
             "destination": files}), max_size=2)),
    }
    return environment


def documents() -> Any:
    return st.fixed_dictionaries({
        "environments": st.dictionaries(names, environments(), min_size=1, max_size=2),
        "logging": st.fixed_dictionaries({"results": files, "application": files,
                                          "level": st.sampled_from(["debug", "info", "warning",
                                                                    "error"])})})


def as_path(value: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(CONFIG_PATH), value))


@DOCUMENT_SETTINGS
@given(documents())
def test_ok_a_configuration_that_loads_has_the_values_it_wrote(document: Dict[str, Any]) -> None:
    config = parse_config(document, CONFIG_PATH)
    assert set(config.environments) == set(document["environments"])
    assert config.logging.results == as_path(document["logging"]["results"])
    assert config.logging.application == as_path(document["logging"]["application"])
    assert config.logging.level == document["logging"]["level"]
    for name, written in document["environments"].items():
        env = config.environments[name]
        jobs = written["jobs"]
        assert env.base_url == written["base_url"].rstrip("/")
        assert env.credentials is not None
        assert env.credentials.username == written["credentials"]["username"]
        assert env.credentials.password_file == as_path(written["credentials"]["password_file"])
        assert (env.tls.verify, env.tls.ca_bundle) == (written["tls"]["verify"],
                                                       as_path(written["tls"]["ca_bundle"]))
        assert env.proxy == written["proxy"]
        assert (env.timeouts.connect, env.timeouts.read) == (written["timeouts"]["connect"],
                                                             written["timeouts"]["read"])
        assert env.max_body_bytes == written["max_body_bytes"]
        assert dict(env.health_severity) == written["health_severity"]
        assert env.jobs.state_dir == as_path(jobs["state_dir"])
        for key in ("poll_interval", "max_poll_interval", "pool_size", "stall_warning",
                    "stall_critical", "pending_warning", "backup_interval", "restore_interval"):
            assert getattr(env.jobs, key) == jobs[key], key
        assert dict(env.jobs.outcomes) == jobs["outcomes"]
        assert {n: [(t.hostname, t.level) for t in targets]
                for n, targets in env.backup_sets.items()} == {
            n: [(m["hostname"], m["level"]) for m in members]
            for n, members in written["backup_sets"].items()}
        assert {n: (r.hostname, r.file_name, r.source_path, r.destination)
                for n, r in env.restores.items()} == {
            n: (r["hostname"], r["file_name"], r["source_path"], r["destination"])
            for n, r in written["restores"].items()}


MAPPINGS = ("", "environments.{env}", "environments.{env}.credentials",
            "environments.{env}.tls", "environments.{env}.timeouts", "environments.{env}.jobs",
            "logging")
NUMBERS = ("timeouts.connect", "timeouts.read", "max_body_bytes", "jobs.poll_interval",
           "jobs.pool_size", "jobs.pending_warning", "jobs.backup_interval")
REQUIRED = ("base_url", "credentials.username")


def _at(document: Dict[str, Any], dotted: str) -> Dict[str, Any]:
    node = document
    for part in filter(None, dotted.split(".")):
        node = node[part]
    return node


@DOCUMENT_SETTINGS
@given(documents(), st.data())
def test_unknown_a_configuration_with_one_fault_is_refused_naming_its_key(
        document: Dict[str, Any], data: Any) -> None:
    env = next(iter(document["environments"]))
    fault = data.draw(st.sampled_from(["unknown key", "not a number", "missing"]))
    if fault == "unknown key":
        where = data.draw(st.sampled_from(MAPPINGS)).format(env=env)
        name = "x_" + data.draw(names)
        _at(document, where)[name] = 1
        expected_key, words = (where or None), name
    elif fault == "not a number":
        dotted = data.draw(st.sampled_from(NUMBERS))
        parent, _, last = f"environments.{env}.{dotted}".rpartition(".")
        _at(document, parent)[last] = data.draw(
            st.sampled_from(["10", True, None, [1], 0, -5, float("nan")]))
        expected_key, words = f"{parent}.{last}", ""
    else:
        dotted = data.draw(st.sampled_from(REQUIRED))
        parent, _, last = f"environments.{env}.{dotted}".rpartition(".")
        del _at(document, parent)[last]
        expected_key, words = f"{parent}.{last}", "required"
    with pytest.raises(ConfigError) as raised:
        parse_config(document, CONFIG_PATH)
    assert raised.value.key == expected_key, (fault, raised.value.message)
    assert words in raised.value.message and CONFIG_PATH in raised.value.message


# Letters, digits, punctuation, symbols and spaces of any script; PyYAML's own writer emits
# some controls and line separators raw, which no reader could give back.
yaml_text = st.text(st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), max_size=12)
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False)
    | yaml_text,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(yaml_text.filter(bool), inner, max_size=3), max_leaves=10)


@SETTINGS
@given(st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8), yaml_values,
                       min_size=1, max_size=4))
def test_ok_yaml_read_back_is_what_was_written(tmp_path_factory: pytest.TempPathFactory,
                                              document: Dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("yaml") / "iaso.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    assert read_yaml(str(path)) == document


@DOCUMENT_SETTINGS
@given(documents(), st.data())
def test_unknown_a_yaml_mapping_naming_a_key_twice_is_refused(
        tmp_path_factory: pytest.TempPathFactory, document: Dict[str, Any], data: Any) -> None:
    """YAML 1.2 (3.2.1.1): the keys of a mapping are unique. PyYAML keeps the last value, so a
    second base_url pasted lower down would silently send the password elsewhere."""
    text = yaml.safe_dump(document, allow_unicode=True)
    lines = [line for line in text.splitlines() if re.match(r"\s*[a-z_]+: \S", line)]
    line = data.draw(st.sampled_from(lines))
    key, _, written = line.partition(": ")
    value = yaml.safe_load(written)
    other = (not value if isinstance(value, bool) else value + 1
             if isinstance(value, (int, float)) else "other-" + str(value))
    second = f"{key}: {yaml.safe_dump(other, default_flow_style=True).splitlines()[0]}"
    twice = text.replace(line + "\n", line + "\n" + second + "\n", 1)
    key = key.strip()
    path = tmp_path_factory.mktemp("yaml") / "iaso.yaml"
    path.write_text(twice, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(str(path))
    assert key in raised.value.message


# --- JSON answers --------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(-10**15, 10**15)
                | st.floats(allow_nan=False, allow_infinity=False, width=64)
                | st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


def body(document: Any, **dump: Any) -> bytes:
    return json.dumps(document, **dump).encode("utf-8")


@SETTINGS
@given(json_objects, st.sampled_from([{}, {"ensure_ascii": False}, {"indent": 2},
                                      {"separators": (",", ":")}]), st.booleans())
def test_ok_a_json_object_is_read_as_the_fields_it_carried(document: Dict[str, Any],
                                                          dump: Dict[str, Any],
                                                          bom: bool) -> None:
    raw = (b"\xef\xbb\xbf" if bom else b"") + body(document, **dump)
    assert parse_json(raw, url=URL, status=200, elapsed=0.0) == document


def refusal(raw: bytes) -> Any:
    try:
        parse_json(raw, url=URL, status=200, elapsed=0.0)
    except (NotJson, WrongType) as exc:
        return exc
    raise AssertionError(f"{raw[:80]!r} was accepted")


@SETTINGS
@given(json_values.filter(lambda v: not isinstance(v, dict)))
def test_crit_a_json_value_that_is_not_an_object_is_refused_as_the_body(value: Any) -> None:
    exc = refusal(body(value))
    assert isinstance(exc, WrongType) and exc.field == "(body)", exc.message


@SETTINGS
@given(st.dictionaries(st.text(min_size=1, max_size=8), json_scalars, min_size=1, max_size=4),
       json_scalars)
def test_crit_a_key_named_twice_is_refused_naming_it(document: Dict[str, Any],
                                                    bogus: Any) -> None:
    key = next(iter(document))
    raw = b"{" + body(key) + b": " + body(bogus) + b", " + body(document)[1:]
    exc = refusal(raw)
    assert isinstance(exc, NotJson) and f"names {key!r} twice" in exc.message, exc.message


@SETTINGS
@given(json_objects, st.sampled_from(["NaN", "Infinity", "-Infinity"]))
def test_crit_nan_and_infinity_are_not_json(document: Dict[str, Any], constant: str) -> None:
    raw = body(dict(document, value="@@")).replace(b'"@@"', constant.encode())
    assert isinstance(refusal(raw), NotJson)


@SETTINGS
@given(json_objects, st.binary(min_size=1, max_size=8).filter(lambda b: b.strip() != b""),
       st.sampled_from(["garbage", "not utf-8", "blank"]))
def test_crit_a_body_that_is_not_json_is_refused_for_its_reason(document: Dict[str, Any],
                                                               extra: bytes,
                                                               kind: str) -> None:
    if kind == "garbage":
        raw = body(document) + b" x" + extra
        words = "not valid JSON"
    elif kind == "not utf-8":
        raw = body(dict(document, value="@@")).replace(b"@@", b"\xff\xfe" + extra)
        words = "not valid JSON"
    else:
        raw = b" \r\n\t" * len(extra)
        words = "empty body"
    exc = refusal(raw)
    assert isinstance(exc, NotJson) and words in exc.message, exc.message


ABSURD = (math.inf, -math.inf, 1e300, -1e300, 10**400)
KINDS = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool) and v not in ABSURD,
         "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
         and v not in ABSURD,
         "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
         "list": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
         "id": lambda v: isinstance(v, (int, str)) and not isinstance(v, bool)}
path_keys = st.text(alphabet="abc", min_size=1, max_size=2)
nested = st.recursive(json_scalars | st.sampled_from(ABSURD) | st.integers(-10**12, 10**12),
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(path_keys, inner, max_size=3), max_leaves=12)


def contract_path(document: Any, dotted: str) -> Tuple[bool, Any]:
    """api-contract: a field is a dotted path, digits indexing lists (a.b.0.c)."""
    current = document
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


@SETTINGS
@given(nested, st.lists(path_keys | st.sampled_from(["0", "1"]), min_size=1, max_size=3)
       .map(".".join), st.sampled_from(sorted(KINDS)), st.booleans())
def test_crit_a_field_is_read_at_its_path_as_its_kind_or_refused_naming_it(
        document: Any, dotted: str, kind: str, required: bool) -> None:
    found, value = contract_path(document, dotted)
    try:
        got = field(document, dotted, kind, required=required)
    except (MissingField, WrongType) as exc:
        assert exc.field == dotted
        if isinstance(exc, MissingField):
            assert required and not found
        else:   # a required field may not be null; a present one must be of its kind
            assert found and (value is None or not KINDS[kind](value)), (value, kind)
        return
    if not found or value is None:
        assert not required and got is None
    else:
        assert KINDS[kind](value) and got == value, (value, kind)


# --- rendered output ---------------------------------------------------------------------------

TITLES = ["IASO LIFE", "IASO HEALTH", "IASO RESPONSE TIME", "IASO AUTH", "IASO BACKUP",
          "IASO RESTORE"]
SECRET = 'S3cr\u00e9t"pa\\ss'
BREAKERS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
perfdata_items = st.builds(
    lambda label, value, uom, tail: f"{label}={value}{uom}{tail}",
    st.from_regex(r"[a-z_]{1,19}", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,6})?", fullmatch=True),
    st.sampled_from(["", "s", "%", "B", "c"]),
    st.sampled_from(["", ";;;0", ";1:2;3;0;10", ";~:5;@1:9;0;100"]))
wild_text = st.text(max_size=500) | st.lists(
    st.sampled_from(["ok", "|", SECRET, "\u2028", "\x1b[31m", "\u202e", "\u0085", "é", "  ",
                     "x" * 50, "\n", "IASO LIFE OK"]), max_size=30).map("".join)
clean_text = st.from_regex(r"[A-Za-z0-9,.:()%'/-]{1,20}( [A-Za-z0-9,.:()%'/-]{1,20}){0,10}",
                           fullmatch=True)


def hidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs")


def is_clean(text: str) -> bool:
    """Printable ASCII, no '|', single spaces between words: nothing to clean."""
    return bool(re.fullmatch(r"[!-{}~]+( [!-{}~]+)*", text))


@SETTINGS
@given(st.sampled_from(TITLES), st.integers(0, 3), wild_text | clean_text,
       st.lists(perfdata_items, max_size=300), st.lists(wild_text | clean_text, max_size=60))
@example("IASO BACKUP", 2, "x", ["dur_vm_" + str(i) + "=12s;;;0" for i in range(4000)], [])
def test_ok_output_is_one_status_line_with_the_summary_within_4000_bytes(
        title: str, code: int, summary: str, perfdata: List[str], lines: List[str]) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    output = render(title, code, summary, perfdata, lines, redactor)
    state = ("OK", "WARNING", "CRITICAL", "UNKNOWN")[code]
    assert len(output.encode("utf-8")) <= OUTPUT_LIMIT
    assert output.endswith("\n") and output.splitlines() == output[:-1].split("\n")
    first = output.split("\n", 1)[0]
    status, _, perf = first.partition(" | ")
    assert status.startswith(f"{title} {state}")
    if is_clean(summary) and len(summary) <= 400:
        assert status == f"{title} {state} - {summary}"
    assert "|" not in status
    kept = perf.split(" ") if perf else []
    assert kept == perfdata[:len(kept)]
    assert len(" ".join(kept).encode("utf-8")) <= PERFDATA_LIMIT
    if len(kept) < len(perfdata):
        assert f"{len(perfdata) - len(kept)} performance values" in output
    assert not any(hidden(c) or c in BREAKERS for c in output[:-1].replace("\n", ""))
    assert SECRET not in output and not any(form in output for form in (
        json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]))


@SETTINGS
@given(st.lists(clean_text, min_size=1, max_size=80))
def test_ok_clean_long_output_is_kept_whole_lines_in_order(lines: List[str]) -> None:
    output = render("IASO HEALTH", 2, "lab: 1 of 8 components unhealthy", [], lines)
    shown = output[:-1].split("\n")[1:]
    if shown != lines:
        assert shown[:-1] == lines[:len(shown) - 1]
        assert shown[-1].startswith(f"({len(lines) - len(shown) + 1} more lines")


# --- the job outcome table -----------------------------------------------------------------


def respelt(status: str, data: Any) -> str:
    words = status.split()
    spaced = [data.draw(st.sampled_from([str.upper, str.lower, str.title, str]))(w)
              for w in words]
    gaps = [data.draw(st.sampled_from([" ", "  ", "\t"])) for _ in words[1:]]
    text = spaced[0] + "".join(g + w for g, w in zip(gaps, spaced[1:]))
    return data.draw(st.sampled_from(["", " ", "\t"])) + text + data.draw(
        st.sampled_from(["", " ", "\n"]))


@SETTINGS
@given(st.sampled_from(sorted(DEFAULT_OUTCOMES)), st.data())
def test_ok_a_status_is_classified_whatever_its_case_and_spacing(status: str, data: Any) -> None:
    table = OutcomeTable()
    variant = respelt(status, data)
    assert table.category(variant) == table.category(status)
    assert table.is_final(variant) == (table.category(status) in ("ok", "warning", "critical"))
    override = data.draw(st.sampled_from(["ok", "warning", "critical", "running", "waiting"]))
    assert OutcomeTable({variant: override}).category(status) == override


@SETTINGS
@given(st.text(max_size=30))
def test_unknown_a_status_outside_the_table_is_never_a_final_outcome(status: str) -> None:
    table = OutcomeTable()
    known = {" ".join(s.split()) for s in DEFAULT_OUTCOMES}
    if " ".join(status.lower().split()) not in known:
        assert table.category(status) is None and not table.is_final(status)


def test_ok_the_examples_in_the_configuration_reference_load(tmp_path: Path) -> None:
    """The layout of docs/configuration.md, as written there, loads with those values."""
    path = tmp_path / "iaso.yaml"
    path.write_text("environments:\n  prod:\n    base_url: https://iaso.example.net/api/v1/\n"
                    "    credentials:\n      username: svc-nagios\n"
                    "      password_file: secrets/prod.password\n"
                    "    jobs: {outcomes: {\"Completed w/ one or more errors\": critical}}\n",
                    encoding="utf-8")
    env = load_config(str(path)).environment(None)
    assert env.base_url == "https://iaso.example.net/api/v1"
    assert env.credentials is not None
    assert env.credentials.password_file == str(tmp_path / "secrets" / "prod.password")
    assert OutcomeTable(env.jobs.outcomes).category("COMPLETED W/ ONE OR MORE ERRORS") == \
        "critical"
