"""The documentation states the options the probes really take."""
from __future__ import annotations

import pytest
from conftest import ROOT

from iaso_probes import (
    check_iaso_auth,
    check_iaso_backup,
    check_iaso_health,
    check_iaso_life,
    check_iaso_response_time,
    check_iaso_restore,
)
from libiaso.run.runner import Probe

PROBES = [check_iaso_life.probe, check_iaso_health.probe, check_iaso_response_time.probe,
          check_iaso_auth.probe, check_iaso_backup.probe, check_iaso_restore.probe]


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.program)
def test_ok_every_option_is_documented(probe: Probe) -> None:
    page = (ROOT / "docs" / "probes" / f"{probe.program}.md").read_text()
    for param in probe.command().params:
        for flag in param.opts:
            assert f"`{flag}" in page or f", {flag}" in page, (probe, flag)
