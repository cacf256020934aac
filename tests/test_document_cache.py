"""The parsed-configuration cache: used when the file is unchanged, never when it is not."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from libiaso.config import document_cache
from libiaso.config.settings import load_config

CONFIG = "environments:\n  lab:\n    base_url: https://iaso-{n}.example.net/api\n"


def load_in_child(config: Path, cache: Path) -> str:
    """Load the file in a fresh interpreter; print the base URL and whether YAML was imported."""
    code = ("import sys; from libiaso.config.settings import load_config; "
            "c = load_config(sys.argv[1]); "
            "print(c.environment('lab').base_url, 'yaml' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), IASO_PROBES_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True,
                          text=True, env=env, check=True).stdout.strip()


def test_ok_second_run_needs_no_yaml_and_an_edit_is_seen(tmp_path: Path) -> None:
    config, cache = tmp_path / "iaso.yaml", tmp_path / "cache"
    config.write_text(CONFIG.format(n=1))
    assert load_in_child(config, cache) == "https://iaso-1.example.net/api True"
    assert load_in_child(config, cache) == "https://iaso-1.example.net/api False"
    config.write_text(CONFIG.format(n=2))
    assert load_in_child(config, cache) == "https://iaso-2.example.net/api True"
    assert load_in_child(config, cache) == "https://iaso-2.example.net/api False"


def test_ok_a_cache_entry_others_could_write_is_ignored(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IASO_PROBES_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "iaso.yaml"
    config.write_text(CONFIG.format(n=1))
    load_config(str(config))
    stamp = document_cache.stamp_of(str(config))
    assert stamp is not None
    assert document_cache.load(str(config), stamp) is not document_cache.MISS
    (entry,) = (tmp_path / "cache").iterdir()
    entry.chmod(0o666)
    assert document_cache.load(str(config), stamp) is document_cache.MISS


def test_ok_no_usable_cache_directory_still_loads(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("IASO_PROBES_CACHE_DIR", str(blocker / "cache"))
    config = tmp_path / "iaso.yaml"
    config.write_text(CONFIG.format(n=3))
    assert load_config(str(config)).environment("lab").base_url.startswith("https://iaso-3")
    monkeypatch.setenv("IASO_PROBES_CACHE_DIR", "off")
    assert document_cache.directory() is None


def test_ok_documents_json_cannot_keep_are_not_cached(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IASO_PROBES_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "iaso.yaml"
    config.write_text("x: 1")
    stamp = document_cache.stamp_of(str(config))
    assert stamp is not None
    document_cache.store(str(config), stamp, {1: "integer key"})
    assert document_cache.load(str(config), stamp) is document_cache.MISS
