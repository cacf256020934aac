"""The end-of-session secret scan: every encoded form of every secret, in hundreds of megabytes.

A session issues thousands of tokens and leaves thousands of files; testing each form of each
token against each file would take hours. Random tokens carry long runs of letters and digits
in every encoded form (plain, %-encoded, base64), so each form is filed under one ten-character
anchor taken from such a run; a file is read once for its runs of ten or more letters and
digits, and only a form whose anchor occurs is searched for. Forms without such a run (the
test password's, full of quotes, backslashes and non-ASCII letters) are searched for directly,
and where a file holds a backslash, everything is sought again with its JSON escapes undone
(any serialiser's: short escapes, \\u escapes of any character, surrogate pairs).
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Pattern

from libiaso.redaction import Redactor, encoded_forms, json_escaped_pattern

ANCHOR = 10
_RUN = re.compile(rb"[A-Za-z0-9]{%d,}" % ANCHOR)


class LeakScanner:
    """Finds any encoded form of the registered secrets in bytes."""

    def __init__(self, password: str, tokens: Iterable[str]) -> None:
        self.anchored: Dict[bytes, List[bytes]] = {}
        self.direct: List[bytes] = []
        self.patterns: List[Pattern[str]] = [json_escaped_pattern(password)]
        for secret in [password, *tokens]:
            for form in encoded_forms(secret):
                if len(form) < Redactor.MINIMUM and form != secret:
                    continue
                raw = form.encode("utf-8", "surrogatepass")
                run = _RUN.search(raw)
                if run is None:
                    self.direct.append(raw)
                else:
                    self.anchored.setdefault(run.group(0)[:ANCHOR], []).append(raw)
        self.direct = list(dict.fromkeys(self.direct))

    def leaks(self, data: bytes, unescaped: bool = False) -> bool:
        """True if ``data`` holds any form of any secret, JSON escapes undone or not."""
        if any(form in data for form in self.direct):
            return True
        for run in _RUN.finditer(data):
            text = run.group(0)
            for at in range(len(text) - ANCHOR + 1):
                forms = self.anchored.get(text[at:at + ANCHOR])
                if forms and any(form in data for form in forms):
                    return True
        if b"\\" in data and not unescaped:
            text = data.decode("utf-8", "replace")
            if any(pattern.search(text) for pattern in self.patterns):
                return True
            return self.leaks(_json_unescaped(text).encode("utf-8", "surrogatepass"), True)
        return False


_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_SHORT = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t"}


def _json_unescaped(text: str) -> str:
    """``text`` with every JSON escape undone (surrogate pairs joined), wherever it stands."""
    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        return chr(int(escape[1:], 16)) if escape[0] == "u" else _SHORT[escape]

    joined = _ESCAPE.sub(one, text)
    return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
