"""Runs last (file order): no configured password and no issued token anywhere the suite left
output — every probe output, every subprocess's stdout and stderr, and every file the tests
wrote (application and results logs, Nagios status and logs, service-desk mails, state files)."""
from __future__ import annotations

import base64
from typing import Any, List

import pytest
from conftest import OUTPUTS, PASSWORD


def secrets(sim: Any) -> List[str]:
    issued = list(sim.issued)
    return [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), *issued]


def test_ok_no_secret_in_any_output_of_the_suite(simulator: Any,
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    assert OUTPUTS, "no probe output was recorded: run this with the rest of the suite"
    wanted = secrets(simulator)
    assert len(wanted) > 2, "the suite issued no token"
    for output in OUTPUTS:
        for secret in wanted:
            assert secret not in output, f"a secret leaked into: {output[:300]}"
    base = tmp_path_factory.getbasetemp()
    scanned = 0
    for path in base.rglob("*"):
        if not path.is_file() or path.name == "password" or path.is_symlink():
            continue
        try:
            text = path.read_bytes()[:5_000_000].decode("utf-8", "replace")
        except OSError:
            continue
        scanned += 1
        for secret in wanted:
            assert secret not in text, f"a secret leaked into {path}"
    assert scanned > 0
