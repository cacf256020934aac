"""The probe's own deadline, so that it always ends itself, with its output, inside -t.

A Nagios core kills a plugin that outlives ``service_check_timeout`` and throws its output away;
Icinga 2 sends SIGTERM first. Per-request socket timeouts alone cannot promise an end time (a
server dripping one byte a second never trips a read timeout), so the deadline is also armed as
an interval timer whose signal interrupts whatever is blocking. SIGTERM is turned into the same
exception, so either way the probe still prints a state and a reason.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from types import FrameType
from typing import Any, Iterator, List, Optional

from .errors import ProbeInterrupted


class DeadlineReached(ProbeInterrupted):
    """The probe's time budget is spent."""


class Terminated(ProbeInterrupted):
    """The core asked the probe to stop (SIGTERM)."""


def process_age() -> float:
    """Seconds since this process started (interpreter start-up counts against -t too)."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as handle:
            uptime = float(handle.read().split()[0])
        import os

        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


FAIR_SHARE = 1.0


def reserve_for(timeout: float) -> float:
    """Seconds kept back from -t to report and exit: a tenth, between 0.2 and 1 s."""
    return min(1.0, max(0.2, timeout * 0.1))


class Deadline:
    """A point in monotonic time; ``remaining()`` caps every wait the probe makes."""

    def __init__(self, timeout: float, started: Optional[float] = None) -> None:
        self.timeout = timeout
        self.started = time.monotonic() if started is None else started
        self.budget = max(0.05, timeout - reserve_for(timeout))
        self.at = self.started + self.budget
        self._previous: Any = None
        self.stopped_by = 0      # the stop signal received while armed, if any

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def fair_share(self) -> float:
        """The least time a call must have been given for the deadline's cut to count against
        the API: 1 s, or a quarter of the budget under a short -t. A call given less was cut
        by the probe's own earlier steps (``OutOfTime``)."""
        return min(FAIR_SHARE, 0.25 * self.budget)

    def check(self) -> None:
        if time.monotonic() >= self.at:
            raise self._reached()

    def _reached(self) -> DeadlineReached:
        return DeadlineReached(f"stopped at the probe's deadline (-t {self.timeout:g})",
                               elapsed=self.elapsed())

    def arm(self) -> None:
        """Raise ``DeadlineReached`` in the main thread at the deadline, and ``Terminated`` on
        any signal asking the process to stop (TERM from the core, HUP, INT, USR1, USR2)."""
        previous = [(signal.SIGALRM, signal.signal(signal.SIGALRM, self._on_alarm))]
        previous += [(number, signal.signal(number, self._on_term)) for number in STOP_SIGNALS]
        self._previous = previous
        signal.setitimer(signal.ITIMER_REAL, max(0.001, self.remaining()))

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self._previous is not None:
            for number, handler in self._previous:
                signal.signal(number, signal.SIG_DFL if handler is None else handler)
            self._previous = None

    def _on_alarm(self, signum: int, frame: Optional[FrameType]) -> None:
        raise self._reached()

    def _on_term(self, signum: int, frame: Optional[FrameType]) -> None:
        # Raised where the signal lands; inside a finaliser or a weakref callback Python
        # ignores it, so the signal is also kept (``stopped``) and the deadline left armed.
        self.stopped_by = self.stopped_by or signum
        raise self.terminated()

    def terminated(self) -> Terminated:
        """What the stop signal received means, as an exception."""
        return Terminated(f"stopped by {signal.Signals(self.stopped_by).name} after "
                          f"{self.elapsed():.1f} s", elapsed=self.elapsed())

    @contextmanager
    def held(self) -> Iterator[None]:
        """SIGALRM and SIGTERM wait for the end of the block, then act as they would have.

        For the few steps that must not stop half-way: writing the state file, recording a
        launched job, applying a status answer. Interrupted there, the probe would lose what the
        API just did (the next run would launch again). The handlers are swapped for a deferring
        one rather than the signals masked: a signal masked in the main thread is taken by any
        other thread (a poll worker) and its Python handler run in the main thread all the same.
        Outside the main thread nothing is swapped (Python runs handlers only there).
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        pending: List[int] = []

        def defer(signum: int, frame: Optional[FrameType]) -> None:
            pending.append(signum)

        saved = [(number, signal.signal(number, defer)) for number in HELD_SIGNALS]
        try:
            yield
        finally:
            for number, handler in saved:
                signal.signal(number, signal.SIG_DFL if handler is None else handler)
            for number in HELD_SIGNALS:   # SIGTERM first: it ends the run, the alarm need not
                if number in pending:
                    signal.raise_signal(number)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
HELD_SIGNALS = (*STOP_SIGNALS, signal.SIGALRM)
EARLY_STOPS: List[int] = []   # stop signals received while the probe was still starting


def catch_stops_early() -> None:
    """Note stop signals instead of dying of them, from the first import of a probe on: the
    probe reports them once it can (a core sending SIGTERM gets a state, not silence)."""
    for number in STOP_SIGNALS:
        signal.signal(number, _note_early)


def _note_early(signum: int, frame: Optional[FrameType]) -> None:
    EARLY_STOPS.append(signum)


def stops_noted(deadline: Deadline) -> None:
    """A stop signal noted before ``deadline`` armed its own handlers ends the run here, with
    its line: called once they are armed (and what must not be lost is safe), it closes the
    gap in which a signal would be noted and never acted on."""
    if EARLY_STOPS:
        raise Terminated(f"stopped by {signal.Signals(EARLY_STOPS[0]).name} while starting",
                         elapsed=deadline.elapsed())
