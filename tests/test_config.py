"""Configuration and secrets: every mistake gives a precise, one-line UNKNOWN."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from conftest import ROOT

from libiaso.config.credentials import Credentials, Secret
from libiaso.config.settings import load_config
from libiaso.errors import ConfigError, SecretError


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "iaso.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def env(**overrides: Any) -> Dict[str, Any]:
    base: Dict[str, Any] = {"base_url": "https://iaso.example.net/api/v1",
                            "credentials": {"username": "u", "password_env": "IASO_PW"}}
    base.update(overrides)
    return {"environments": {"prod": base}}


def test_ok_shipped_sample_loads() -> None:
    config = load_config(str(ROOT / "etc" / "iaso.yaml"))
    assert set(config.environments) == {"lab", "qualif", "prod"}
    prod = config.environment("prod")
    assert prod.tls.verify is True
    assert prod.profile.endpoint("life").path == "/life"
    assert [t.hostname for t in prod.backup_sets["linux-vms"]] == [
        "vm-test-01.example.net", "vm-test-02.example.net"]
    assert prod.restores["hosts-file"].source_path == "/etc"
    assert prod.jobs.pool_size == 8 and prod.jobs.state_dir == "/var/lib/iaso-probes"
    assert config.logging.results == "/var/log/iaso-probes/results.jsonl"
    assert config.logging.level == "info"


def test_ok_defaults_are_laid_under_each_environment(tmp_path: Path) -> None:
    data = env()
    data["defaults"] = {"timeouts": {"connect": 2}, "health_severity": {"vcenter": "warning"}}
    environment = load_config(str(write(tmp_path, data))).environment("prod")
    assert environment.timeouts.connect == 2 and environment.timeouts.read == 30
    assert environment.health_severity == {"vcenter": "warning"}


def test_ok_profile_override_keeps_the_rest(tmp_path: Path) -> None:
    data = env(profile={"endpoints": {"life": {"path": "/ping"}},
                        "auth": {"header": "Authtoken", "prefix": ""}})
    profile = load_config(str(write(tmp_path, data))).environment("prod").profile
    assert profile.endpoint("life").path == "/ping"
    assert profile.endpoint("life").fields["status_code"].path == "statusCode"
    assert profile.auth.header_value("t") == "t" and profile.auth.header == "Authtoken"


@pytest.mark.parametrize("data, message", [
    ("environments: [", "invalid YAML: line 2, column 1: did not find expected node"),
    ("", "configuration file is empty"),
    ("- a\n- b\n", "expected a mapping, got a list"),
    ({"environments": {}}, "environments: no environment is configured"),
    ({"environment": {}}, "environments: is required"),
    (env(base_url="iaso.example.net"), "environments.prod.base_url: expected an http:// or "
                                       "https:// URL"),
    (env(tls={"verify": "yes"}), "environments.prod.tls.verify: expected true or false, "
                                 "got the text 'yes'"),
    (env(tls={"verfy": False}), "environments.prod.tls: unknown key: verfy"),
    (env(timeouts={"read": -1}), "environments.prod.timeouts.read: expected a value above 0"),
    (env(proxy="squid:3128"), "environments.prod.proxy: expected 'environment', 'none' or a "
                              "proxy URL"),
    (env(credentials={"username": "u", "password": "hunter2"}),
     "environments.prod.credentials.password: passwords are not written in this file"),
    (env(credentials={"username": "u"}), "give exactly one of password_file and password_env"),
    (env(health_severity={"vcenter": "minor"}), "health_severity.vcenter: expected warning or "
                                                "critical"),
    (env(profile={"endpoints": {"life": {"method": "DELETE"}}}),
     "profile.endpoints.life.method: expected one of GET, POST, PUT, got 'DELETE'"),
    (env(profile={"auth": {"password_encoding": "rot13"}}), "profile.auth.password_encoding"),
    (env(profile={"endpoints": {"backup": {"body": {"host": "{hostnme}"}}}}),
     "profile.endpoints.backup: uses unknown parameter(s) hostnme; known: hostname, level"),
    (env(colour="blue"), "environments.prod: unknown key: colour"),
    (env(jobs={"outcomes": {"Archived": "fine"}}),
     "environments.prod.jobs.outcomes.Archived: expected one of ok, warning, critical"),
    (env(jobs={"stall_warning": 600, "stall_critical": 60}),
     "environments.prod.jobs.stall_critical: must not be below stall_warning"),
    (env(jobs={"pool_size": 0}), "environments.prod.jobs.pool_size: expected a value at least 1"),
    (env(backup_sets={"linux": [{"hostname": "vm-a"}]}),
     "environments.prod.backup_sets.linux.0.level: is required"),
    (env(backup_sets={"linux": []}), "environments.prod.backup_sets.linux: expected a non-empty"),
    (env(restores={"r": {"hostname": "vm-a", "file_name": "f", "source_path": "/"}}),
     "environments.prod.restores.r.destination: is required"),
], ids=["unknown-invalid-yaml", "unknown-empty-file", "unknown-not-a-mapping",
        "unknown-no-environment", "unknown-misspelt-top-key", "unknown-bad-url",
        "unknown-bad-flag", "unknown-misspelt-tls-key", "unknown-negative-timeout",
        "unknown-bad-proxy", "unknown-password-in-file", "unknown-no-password-source",
        "unknown-bad-severity", "unknown-bad-method", "unknown-bad-encoding",
        "unknown-misspelt-template-parameter",
        "unknown-unknown-env-key", "unknown-bad-outcome-category",
        "unknown-stall-thresholds-reversed", "unknown-empty-pool", "unknown-backup-without-level",
        "unknown-empty-backup-set", "unknown-restore-without-destination"])
def test_unknown_config_errors_name_file_and_key(tmp_path: Path, data: Any,
                                                  message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value).startswith(str(path) + ": ")
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unknown_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file does not exist"):
        load_config(str(tmp_path / "absent.yaml"))


def test_unknown_unknown_environment(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, env())))
    with pytest.raises(ConfigError, match="unknown environment 'lab'; configured: prod"):
        config.environment("lab")


def test_ok_password_file_first_line_only_newline_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b" pass word \r\nsecond line\n")
    secret.chmod(0o600)
    warnings: list = []
    assert Credentials("u", password_file=str(secret)).password(warnings).reveal() == " pass word "
    assert warnings == []


def test_warn_password_file_readable_by_others_is_reported(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("p\n")
    secret.chmod(0o644)
    warnings: list = []
    Credentials("u", password_file=str(secret)).password(warnings)
    assert warnings and "accessible by group or others (mode 0644)" in warnings[0]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"), (b"", "is empty"), (b"\n", "is empty"),
], ids=["unknown-missing-password-file", "unknown-empty-password-file",
        "unknown-blank-first-line"])
def test_unknown_bad_password_file(tmp_path: Path, content: Any, message: str) -> None:
    secret = tmp_path / "pw"
    if content is not None:
        secret.write_bytes(content)
    with pytest.raises(SecretError, match=message):
        Credentials("u", password_file=str(secret)).password()


def test_ok_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IASO_PW", "from-env")
    assert Credentials("u", password_env="IASO_PW").password().reveal() == "from-env"
    monkeypatch.setenv("IASO_PW", "")
    with pytest.raises(SecretError, match="IASO_PW is empty"):
        Credentials("u", password_env="IASO_PW").password()
    monkeypatch.delenv("IASO_PW")
    with pytest.raises(SecretError, match="IASO_PW is not set"):
        Credentials("u", password_env="IASO_PW").password()


def test_ok_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
