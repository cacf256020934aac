"""Secrets stay masked in every form and every place: output, results log, application log,
configuration errors; and the end-of-session scan can catch a leak."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from conftest import PASSWORD, leaked_secrets, play, write_config

from iaso_probes.check_iaso_auth import probe as auth
from iaso_probes.check_iaso_life import probe as life
from libiaso.redaction import Redactor, encoded_forms

FORMS = {
    "plain": PASSWORD,
    "json-ascii": json.dumps(PASSWORD)[1:-1],
    "json-utf8": json.dumps(PASSWORD, ensure_ascii=False)[1:-1],
    "repr": repr(PASSWORD)[1:-1],
    "url": quote(PASSWORD, safe=""),
    "url-plus": quote_plus(PASSWORD),
    "base64": base64.b64encode(PASSWORD.encode()).decode(),
    "base64-url": base64.urlsafe_b64encode(PASSWORD.encode()).decode().rstrip("="),
}


def logged_config(tmp_path: Path, base_url: str, **extra: Any) -> Path:
    path = write_config(tmp_path, base_url, extra=extra or None)
    data = yaml.safe_load(path.read_text())
    data["logging"] = {"results": str(tmp_path / "results.jsonl"),
                       "application": str(tmp_path / "app.log"), "level": "debug"}
    path.write_text(yaml.safe_dump(data))
    return path


def every_form_absent(text: str) -> bool:
    return not any(form in text for form in encoded_forms(PASSWORD))


@pytest.mark.parametrize("form", sorted(FORMS))
def test_ok_redactor_masks_every_encoded_form(form: str) -> None:
    redactor = Redactor()
    redactor.add(PASSWORD)
    assert redactor(f"before {FORMS[form]} after") == "before *** after"


@pytest.mark.parametrize("form", sorted(FORMS))
def test_crit_password_echoed_in_any_form_is_masked_in_output_and_both_logs(
        form: str, sim: Any, tmp_path: Path) -> None:
    play(sim, {"endpoints": {"login": {"status": 500, "body": {
        "json": {"message": f"no user for {FORMS[form]}"}}}}})
    config = logged_config(tmp_path, sim.url)
    outcome = auth.run(["-C", str(config), "-vv"])
    assert outcome.code == 2 and "***" in outcome.output, outcome.output
    logs = (tmp_path / "results.jsonl").read_text() + (tmp_path / "app.log").read_text()
    assert every_form_absent(outcome.output + logs)
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert "***" in record["error"]["message"]


@pytest.mark.parametrize("offset", [140, 150, 155, 159])
def test_crit_password_echoed_across_the_error_text_cut_leaves_no_prefix(
        offset: int, sim: Any, tmp_path: Path) -> None:
    play(sim, {"endpoints": {"login": {"status": 401, "body": {
        "json": {"message": "x" * offset + PASSWORD + " was refused"}}}}})
    config = logged_config(tmp_path, sim.url)
    outcome = auth.run(["-C", str(config)])
    assert outcome.code == 2
    everything = outcome.output + (tmp_path / "results.jsonl").read_text()
    for length in range(5, len(PASSWORD) + 1):
        assert PASSWORD[:length] not in everything, f"first {length} characters leaked"


def test_crit_base64_password_echoed_by_the_api_is_masked(sim: Any, tmp_path: Path) -> None:
    sent = base64.b64encode(PASSWORD.encode()).decode()
    play(sim, {"credentials": {"username": "nagios", "password": PASSWORD,
                               "password_encoding": "base64"},
               "endpoints": {"login": {"status": 403, "body": {"raw": f"bad password {sent}"}}}})
    config = logged_config(tmp_path, sim.url,
                           profile={"auth": {"password_encoding": "base64"}})
    outcome = auth.run(["-C", str(config), "-vv"])
    assert outcome.code == 2 and "***" in outcome.output, outcome.output
    assert every_form_absent(outcome.output + (tmp_path / "results.jsonl").read_text())


@pytest.mark.parametrize("key,value", [
    ("base_url", "ftp://svc:Hunter2-secret@iaso.example.net/api"),
    ("base_url", "http://svc:Hunter2-secret@exa mple/api"),
    ("proxy", "gopher://svc:Hunter2-secret@proxy.example.net:3128"),
])
def test_unknown_configuration_error_never_quotes_url_userinfo(key: str, value: str,
                                                              tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api", extra={key: value})
    outcome = life.run(["-C", str(config)])
    assert outcome.code == 3, outcome.output
    assert "Hunter2" not in outcome.output and key in outcome.output


def test_crit_proxy_password_is_never_shown(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api",
                          extra={"proxy": "http://svc:Hunter2-secret@127.0.0.1:1"})
    outcome = life.run(["-C", str(config), "-vvv"])
    assert outcome.code == 2, outcome.output
    assert "Hunter2" not in outcome.output


def test_unknown_password_env_holding_a_password_is_refused_unquoted(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api")
    data = yaml.safe_load(config.read_text())
    data["environments"]["lab"]["credentials"] = {"username": "u",
                                                  "password_env": "Hunter2 secret!"}
    config.write_text(yaml.safe_dump(data))
    outcome = auth.run(["-C", str(config)])
    assert outcome.code == 3 and "Hunter2" not in outcome.output, outcome.output
    assert "must name an environment variable" in outcome.output


def test_ok_the_session_secret_scan_catches_a_planted_leak(tmp_path: Path) -> None:
    planted = tmp_path / "planted.log"
    planted.write_text("x " + json.dumps(PASSWORD) + " y")
    try:
        assert any("planted.log" in place for place in leaked_secrets())
    finally:
        planted.unlink()
    assert not any("planted.log" in place for place in leaked_secrets())
