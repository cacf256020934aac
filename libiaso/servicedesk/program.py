"""What the service-desk programs share: the -t type, the plugin behaviour of the two a core
runs as checks (flush, sync), the configuration file's place, their one-line endings, and the
notifications held while the configuration could not be read, settled first by every run.

Each program arms its deadline before anything else, so that it ends, with its line, within
``-t``, whatever a desk, a core or a file does; the steps that must not stop half-way (a
notification written into the spool) hold the deadline's signals until they are done.
"""
from __future__ import annotations

import math
import os
import signal
import sys
from typing import Any, NoReturn, Optional

import click

from ..deadline import STOP_SIGNALS, Deadline
from ..states import State
from .held import Held
from .journal import Journal
from .settings import DEFAULT_PATH, DeskSettings
from .single_line import one_line
from .spool import FlushReport, Spool

CONFIG_ENV = "IASO_SERVICEDESK_CONFIG"
CORES = ("nagios", "icinga2")
CONTEXT = {"help_option_names": ["-h", "--help"]}


class Seconds(click.ParamType):
    """A time budget: a finite number of seconds above 0, at most an hour."""

    name = "seconds"

    def convert(self, value: Any, param: Optional[click.Parameter],
                ctx: Optional[click.Context]) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not 0 < seconds <= 3600:
            self.fail(f"{value!r}: expected seconds above 0, at most 3600", param, ctx)
        return seconds


SECONDS = Seconds()


class PluginCommand(click.Command):
    """A program a core runs as a check: a usage error is UNKNOWN (3) with one line on stdout,
    not click's exit 2 on stderr, which a core would read as CRITICAL and show no reason."""

    def __init__(self, *args: Any, label: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = label

    def main(self, *args: Any, **kwargs: Any) -> Any:
        as_program = not args and kwargs.get("args") is None    # its arguments from sys.argv
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            click.echo(f"{self.label} UNKNOWN - usage: {plugin_text(exc.format_message())} "
                       f"(see --help)")
            code = int(State.UNKNOWN)
        except click.exceptions.Abort:
            click.echo(f"{self.label} UNKNOWN - usage: aborted")
            code = int(State.UNKNOWN)
        except SystemExit as exc:
            code = exc.code
        code = code if isinstance(code, int) else 0
        if as_program:
            end_with(code)
        sys.exit(code)


def end_with(code: int) -> NoReturn:
    """Leave with ``code`` once the line is out, as the probes do: a stop signal landing in the
    interpreter's teardown (which gives the signals back their default) would end the process
    by the signal after its line was printed, and a core would read no state."""
    for number in (*STOP_SIGNALS, signal.SIGALRM):
        signal.signal(number, signal.SIG_IGN)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = int(State.UNKNOWN)
    os._exit(code)


def plugin_text(text: str) -> str:
    """Anyone's text in a plugin's output: one line, and no '|', which starts perfdata."""
    return one_line(text).replace("|", "/")


def config_path(option: Optional[str]) -> Optional[str]:
    """-C, else $IASO_SERVICEDESK_CONFIG, else the default file when it exists."""
    if option is not None:
        return option or None
    if os.environ.get(CONFIG_ENV):
        return os.environ[CONFIG_ENV]
    return DEFAULT_PATH if os.path.exists(DEFAULT_PATH) else None


def fail(message: str, state: State = State.UNKNOWN) -> NoReturn:
    click.echo(f"iaso-servicedesk: {one_line(message)}", err=True)
    sys.exit(int(state))


def waiting_note(report: FlushReport, spool: Spool) -> str:
    return (f"{report.waiting} notification(s) wait in {spool.queue} ({report.reason}); "
            f"delivered at the next notification or by iaso-servicedesk-flush")


def settle_held(path: Optional[str], settings: DeskSettings, spool: Spool, deadline: Deadline,
                journal: Journal) -> int:
    """What came while the configuration file ``path`` could not be read goes into the spool
    first; returns how many notifications stay held (for another file, or for want of time)."""
    held = Held()
    if not held.waiting():
        return 0
    with deadline.held():
        return held.settle(path, settings, spool, deadline.at, journal)


def unknown(label: str, message: str) -> NoReturn:
    click.echo(f"{label} UNKNOWN - {plugin_text(message)}")
    sys.exit(int(State.UNKNOWN))


def warning(label: str, message: str) -> NoReturn:
    click.echo(f"{label} WARNING - {plugin_text(message)}")
    sys.exit(int(State.WARNING))
