"""The values an API writes in its own way, turned into ours: numbers in text, times, durations.

Parsed here rather than by ``datetime.fromisoformat``, whose accepted forms differ between the
Python versions the probes run on (3.9 refuses the 7 fractional digits .NET writes, the 9 of
Java, an offset without a colon); every form below is read the same everywhere. A value that is
not finite or beyond ``NUMBER_LIMIT`` is refused: no computation downstream survives 1e400.
"""
from __future__ import annotations

import calendar
import math
import re
from typing import Any

NUMBER_LIMIT = 1e15   # no duration, percentage or epoch time of an API comes near

NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?)?")
_ISO_DURATION = re.compile(
    r"P(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?")
_CLOCK = re.compile(r"(?:(\d+)[.:])?(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?")


def finite(value: Any) -> bool:
    """True for a number that every later computation can take (no inf, NaN or 10**400)."""
    try:
        return math.isfinite(value) and abs(value) <= NUMBER_LIMIT
    except (OverflowError, TypeError):
        return False


def epoch_of_iso8601(text: str) -> float:
    """Epoch seconds of an ISO 8601 date or date-time (a missing offset means UTC)."""
    match = _ISO_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError("an ISO 8601 time")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    parts = [int(year), int(month), int(day), int(hour or 0), int(minute or 0),
             int(second or 0)]
    if not (1 <= parts[1] <= 12 and 1 <= parts[2] <= calendar.monthrange(parts[0], parts[1])[1]
            and parts[3] <= 24 and parts[4] <= 59 and parts[5] <= 60):
        raise ValueError("an ISO 8601 time")
    seconds = calendar.timegm((*parts, 0, 0, 0)) + (float(f"0.{fraction}") if fraction else 0.0)
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError("an ISO 8601 time")
        seconds -= sign * (hours * 3600 + minutes * 60)
    return float(seconds)


def seconds_of_duration(text: str) -> float:
    """Seconds of an ISO 8601 duration (``PT1H2M3S``, ``P1DT2H``) or a clock (``1:02:03``,
    ``2.01:02:03``), the two ways APIs write an elapsed time. Months and years are refused:
    their length depends on the calendar."""
    text = text.strip()
    clock = _CLOCK.fullmatch(text)
    if clock:
        days, hours, minutes, seconds, fraction = clock.groups()
        if int(minutes) > 59 or int(seconds) > 59:
            raise ValueError("a duration")
        return (int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
                + (float(f"0.{fraction}") if fraction else 0.0))
    iso = _ISO_DURATION.fullmatch(text.upper())
    if iso is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        raise ValueError("an ISO 8601 duration or H:MM:SS")
    weeks, days, hours, minutes, seconds = (float(g.replace(",", ".")) if g else 0.0
                                            for g in iso.groups())
    return weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds


def number_of_text(text: str, whole: bool) -> float:
    """A number written as text (``"45"``, ``"45.5"``, ``"45 %"``); ``whole``: an integer."""
    stripped = text.strip().rstrip("%").strip()
    if not NUMBER_TEXT.fullmatch(stripped):
        raise ValueError("a whole number (or its text)" if whole else "a number (or its text)")
    number = float(stripped)
    if not finite(number):
        return number
    if whole or (number.is_integer() and "." not in stripped and "e" not in stripped.lower()):
        return int(number)
    return number
