"""Plugin output: one safe status line, bounded perfdata and long output, 4,000 bytes in all.

Nagios reads everything after the first '|' as perfdata and keeps at most 8 KB of output
(Nagios 4's MAX_PLUGIN_OUTPUT_LENGTH). Text may therefore never contain '|' or secrets, nor any
character that a reader may take as the end of a line or that reorders what is shown: C0 and C1
controls (NEL, CSI...), Unicode line and paragraph separators, bidi and other format controls.
Perfdata is kept to its own budget, the values given first (aggregates, by the probe's order)
kept first; long output is cut, whole lines at a time; the whole output stays under
``OUTPUT_LIMIT`` bytes whatever the number of targets.
"""
from __future__ import annotations

import unicodedata
from typing import Callable, Iterable, List, Optional, Tuple

from ..states import State

STATUS_LINE_LIMIT = 400
LONG_LINE_LIMIT = 300
PERFDATA_LIMIT = 1600
OUTPUT_LIMIT = 4000
_HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")


def _printable(text: str) -> str:
    """``text`` with every control, separator and format character turned into a space."""
    if text.isascii():
        if text.isprintable():
            return text
        return "".join(c if " " <= c <= "~" else " " for c in text)
    return "".join(" " if unicodedata.category(c) in _HIDDEN else c for c in text)


def clean_text(text: str, limit: int, redact: Optional[Callable[[str], str]] = None) -> str:
    """One line of printable text without '|', redacted and cut to ``limit`` characters."""
    if redact is not None:
        text = redact(text)
    text = " ".join(_printable(text).replace("|", "/").split())
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
    kept, dropped = _budgeted(perfdata, redact)
    first = f"{status} | {' '.join(kept)}" if kept else status
    lines: List[str] = [first]
    used = len(first.encode("utf-8")) + 1
    pending = [clean_text(line, LONG_LINE_LIMIT, redact) for line in long_lines]
    pending = [line for line in pending if line]
    values = f"{dropped} performance values" if dropped else ""
    for index, line in enumerate(pending):
        cost = len(line.encode("utf-8")) + 1
        if used + cost > OUTPUT_LIMIT - 100:
            hidden = f"{len(pending) - index} more lines" + (f" and {values}" if values else "")
            lines.append(f"({hidden} not shown: output bound)")
            break
        lines.append(line)
        used += cost
    else:
        if values:
            lines.append(f"({values} not shown: output bound)")
    return "\n".join(lines) + "\n"


def _budgeted(perfdata: Iterable[str], redact: Optional[Callable[[str], str]]
              ) -> Tuple[List[str], int]:
    """The perfdata items that fit ``PERFDATA_LIMIT`` bytes, in order; how many did not."""
    kept: List[str] = []
    used = 0
    dropped = 0
    for item in perfdata:
        item = _printable(redact(item) if redact else item).replace("|", "/").strip()
        if not item:
            continue
        cost = len(item.encode("utf-8")) + 1
        if dropped or used + cost > PERFDATA_LIMIT:
            dropped += 1
            continue
        kept.append(item)
        used += cost
    return kept, dropped
