"""The last line of defence against leaked secrets: every text a probe prints passes here.

Secrets are never put into messages on purpose; this catches the accidents (an API echoing a
password back in its error text, a token inside a URL) before they reach a console or a log.
"""
from __future__ import annotations

from typing import List

MASK = "***"


class Redactor:
    """Masks every registered secret in a text."""

    def __init__(self) -> None:
        self._secrets: List[str] = []

    def add(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
