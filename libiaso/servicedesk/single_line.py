"""Anyone's text (a check's output, a desk's error, a ticket's field) made one line before it
goes where a line means something: a mail header, a journal entry, a plugin's output. Every
character that some reader takes as the end of a line goes: control characters (CR, LF, NEL
among them) and the Unicode line and paragraph separators, which ``str.splitlines`` and many
mail and log readers honour too."""
from __future__ import annotations

import re

BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """``text`` on one line: each run of breaking characters becomes one space."""
    return BREAKING.sub(" ", text).strip()
