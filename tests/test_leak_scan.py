"""The session's secret scan finds whatever the product's own redactor would mask.

The scan (tests/leak_scan.py) trades the redactor's plain search for anchors, to read hundreds
of megabytes in seconds; this is the check that the trade lost nothing: every encoded form of
the password and of tokens of each shape the simulators issue, and the escapes other JSON
serialisers write, embedded in other bytes.
"""
from __future__ import annotations

import json
import secrets
from typing import List

import pytest
from conftest import PASSWORD
from leak_scan import LeakScanner

from libiaso.redaction import Redactor, encoded_forms

TOKENS = [secrets.token_urlsafe(32), "QSDK " + secrets.token_hex(64),
          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJuYWdpb3MifQ.c2lnbmF0dXJl+/==",
          secrets.token_hex(8) + "+/" + secrets.token_hex(8)]


def every_char_escaped(secret: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else json.dumps(c)[1:-1]
                   for c in secret)


def dotnet_escaped(secret: str) -> str:
    """System.Text.Json's default: '+', '<', '>', '&', "'" and non-ASCII as \\u escapes."""
    return "".join(f"\\u{ord(c):04X}" if c in "+<>&'" or ord(c) > 0x7e else
                   json.dumps(c)[1:-1] for c in secret)


def samples(secret: str) -> List[str]:
    return [*encoded_forms(secret), json.dumps({"k": secret}), every_char_escaped(secret),
            dotnet_escaped(secret), json.dumps(secret, ensure_ascii=False)]


SCANNER = LeakScanner(PASSWORD, TOKENS)
REDACTOR = Redactor()
for _secret in [PASSWORD, *TOKENS]:
    REDACTOR.add(_secret)


@pytest.mark.parametrize("secret", [PASSWORD, *TOKENS],
                         ids=["password", "urlsafe-token", "commvault-token", "jwt", "plus-slash"])
def test_crit_every_form_the_redactor_masks_is_found(secret: str) -> None:
    for sample in samples(secret):
        text = f"before {sample} after\n"
        masked_by_redactor = REDACTOR(text) != text
        found = SCANNER.leaks(text.encode("utf-8", "surrogatepass"))
        assert found or not masked_by_redactor, sample
        assert found, sample


def test_ok_text_without_a_secret_is_clean() -> None:
    text = json.dumps({"token": "***", "jobs": [secrets.token_hex(32) for _ in range(50)],
                       "escaped": "caf\\u00e9 \\\\ \\/ \\n", "password": PASSWORD[:5]})
    assert not SCANNER.leaks(text.encode())
