"""The last line of defence against leaked secrets: every text a probe prints passes here.

Secrets are never put into messages on purpose; this catches the accidents (an API echoing a
password back in its error text, a token inside a URL) before they reach a console or a log.
An API, a JSON serialiser or a log formatter may carry a secret in another form than the one we
hold, so every form a secret can take on its way is masked too: JSON-escaped (with and without
``\\uXXXX`` escapes), Python-repr-escaped, percent-encoded (upper- or lower-case hex) and
base64-encoded (standard and URL-safe alphabets, with and without padding).
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any, List
from urllib.parse import quote, quote_plus

MASK = "***"


def encoded_forms(secret: str) -> List[str]:
    """``secret`` and every encoding of it that a request, an answer or a log may carry."""
    raw = secret.encode("utf-8", "surrogatepass")
    standard = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    forms = [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret).replace("/", "\\/")[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        quote(secret),
        _lower_hex(quote(secret, safe="")),    # RFC 3986 2.1: %c3 and %C3 are the same octet
        _lower_hex(quote_plus(secret, safe="")),
        _lower_hex(quote(secret)),
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
    ]
    return [form for form in dict.fromkeys(forms) if form]


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), encoded)


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f",
                  "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hex(number: int) -> str:
    """Four hexadecimal digits matching either case (Python writes \\u00ef, .NET \\u00EF)."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{number:04x}")


def json_escaped_pattern(secret: str) -> re.Pattern[str]:
    """``secret`` as any JSON serialiser may write it: each character as itself, as a short
    escape, or as a \\u escape in either case (a surrogate pair beyond the first plane)."""
    parts = []
    for char in secret:
        code = ord(char)
        ways = [re.escape(char)]
        if char in _SHORT_ESCAPES:
            ways.append(re.escape(_SHORT_ESCAPES[char]))
        if code < 0x10000:
            ways.append("\\\\u" + _hex(code))
        else:
            high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
            ways.append("\\\\u" + _hex(high) + "\\\\u" + _hex(low))
        parts.append("(?:" + "|".join(ways) + ")")
    return re.compile("".join(parts))


class Redactor:
    """Masks every registered secret, in every encoded form, in a text or a JSON-ready value."""

    MINIMUM = 4   # a shorter "secret" would mask ordinary words: such a form is not kept

    def __init__(self) -> None:
        self._forms: List[str] = []
        self._patterns: List[re.Pattern[str]] = []

    def add(self, secret: str) -> None:
        if not secret:
            return
        for form in encoded_forms(secret):
            if (len(form) >= self.MINIMUM or form == secret) and form not in self._forms:
                self._forms.append(form)
        self._forms.sort(key=len, reverse=True)
        if len(secret) >= self.MINIMUM:
            self._patterns.append(json_escaped_pattern(secret))

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        if "\\" in text:
            for pattern in self._patterns:
                text = pattern.sub(MASK, text)
        return text

    def value(self, data: Any) -> Any:
        """A copy of a JSON-ready value with every text in it masked (keys included)."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {self(str(k)): self.value(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.value(v) for v in data]
        return data
