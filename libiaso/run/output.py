"""Plugin output: one safe status line, bounded long output, perfdata kept whole.

Nagios reads everything after the first '|' as perfdata and keeps at most 8 KB of output
(Nagios 4's MAX_PLUGIN_OUTPUT_LENGTH), so text may never contain '|', control characters or
secrets, and long output is cut, whole lines at a time, well before that bound.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, List, Optional

from ..states import State

STATUS_LINE_LIMIT = 400
LONG_LINE_LIMIT = 300
OUTPUT_LIMIT = 4000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_text(text: str, limit: int, redact: Optional[Callable[[str], str]] = None) -> str:
    """One line of printable text without '|', redacted and cut to ``limit`` characters."""
    if redact is not None:
        text = redact(text)
    text = _CONTROL.sub(" ", text).replace("|", "/").strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


def render(title: str, code: int, summary: str, perfdata: Iterable[str] = (),
           long_lines: Iterable[str] = (), redact: Optional[Callable[[str], str]] = None) -> str:
    """The whole plugin output, newline-terminated, at most ``OUTPUT_LIMIT`` bytes."""
    status = f"{title} {State(code).name}"
    summary = clean_text(summary, STATUS_LINE_LIMIT, redact)
    if summary:
        status += f" - {summary}"
    perf = " ".join(p for p in perfdata if p)
    first = f"{status} | {perf}" if perf else status
    lines: List[str] = [first]
    used = len(first.encode("utf-8")) + 1
    pending = [clean_text(line, LONG_LINE_LIMIT, redact) for line in long_lines]
    pending = [line for line in pending if line]
    for index, line in enumerate(pending):
        cost = len(line.encode("utf-8")) + 1
        if used + cost > OUTPUT_LIMIT - 60:
            lines.append(f"({len(pending) - index} more lines not shown)")
            break
        lines.append(line)
        used += cost
    return "\n".join(lines) + "\n"
