"""The probe runner shared by every check_iaso_* program.

It owns what every probe must do the same way: the common options (-C, -E, -t, -w, -c, -v,
-V, -h), usage errors reported as UNKNOWN on stdout (click runs in non-standalone mode: its own
exit 2 on stderr would read as CRITICAL to a core), the deadline inside -t and SIGTERM, the
exception → state mapping, log capture into long output, and sanitised, bounded output.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
import traceback
from typing import IO, Any, Callable, List, NamedTuple, Optional, Sequence

import click
import nagiosplugin

from .. import __version__
from ..config.settings import default_path, load_config
from ..deadline import (
    EARLY_STOPS,
    STOP_SIGNALS,
    Deadline,
    catch_stops_early,
    process_age,
    stops_noted,
)
from ..errors import IasoError, ProbeInterrupted
from ..redaction import Redactor
from ..states import state_for
from .application_log import ApplicationLog
from .output import render
from .probe_run import CommonOptions, ProbeRun
from .record import RunRecord

DEFAULT_TIMEOUT = 10.0
UNKNOWN = 3

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


_NUMERAL = r"-?[0-9]+(?:\.[0-9]+)?"
# The range syntax of the Monitoring Plugins guidelines, exactly: nagiosplugin alone would also
# take '', '@', ':', '+5', '.5', '1_0' or non-ASCII digits (Python's number syntax), and an empty
# -w from an empty macro would silently never warn.
_RANGE = re.compile(rf"@?(?:{_NUMERAL}|(?:{_NUMERAL}|~):(?:{_NUMERAL})?)")


class NagiosRange(click.ParamType):
    """A threshold in Nagios range syntax (10, 10:, ~:10, 10:20, @10:20)."""

    name = "RANGE"

    def convert(self, value: Any, param: Optional[click.Parameter],
                ctx: Optional[click.Context]) -> nagiosplugin.Range:
        if isinstance(value, nagiosplugin.Range):
            return value
        if not _RANGE.fullmatch(str(value)):
            self.fail(f"{str(value)!r} is not a Nagios range (such as 10, 10:, ~:10, 10:20 or "
                      "@10:20; numbers in plain decimal)", param, ctx)
        try:
            return nagiosplugin.Range(str(value))
        except ValueError as exc:
            self.fail(f"{value!r} is not a Nagios range ({exc.args[0] if exc.args else exc})",
                      param, ctx)


class Outcome(NamedTuple):
    """What a run printed and the exit code it chose."""

    code: int
    output: str

    @property
    def first_line(self) -> str:
        return self.output.split("\n", 1)[0]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except ProbeInterrupted:
            raise   # the deadline or SIGTERM, landing in a log line: not the log line's fault
        except Exception:  # noqa: BLE001 - a log line must never break a probe
            self.lines.append(f"{record.levelname} (unprintable log record)")


class Probe:
    """One check_iaso_* program: a title, its own options and a function building the Check."""

    def __init__(self, title: str, program: str, build: Callable[..., nagiosplugin.Check],
                 options: Sequence[Decorator] = (), help_text: str = "",
                 thresholds: str = "response time in seconds") -> None:
        self.title = title
        self.program = program
        self.build = build
        self.options = options
        self.help_text = help_text
        self.thresholds = thresholds

    def main(self) -> None:
        """Console-script entry point: interpreter start-up counts against -t.

        The process ends with ``os._exit`` once its output is flushed: every file and socket
        of the run is closed by then, and skipping the interpreter's teardown of a few hundred
        modules saves about as much time as the whole check takes (bench/probe_cost.py).
        """
        stdout_missing = reopen_closed_descriptors()
        catch_stops_early()
        try:
            if EARLY_STOPS:
                outcome = self.stopped_early(EARLY_STOPS[0])
            else:
                outcome = self.run(sys.argv[1:], count_start_up=True)
        except BaseException as exc:  # noqa: BLE001 - whatever escapes, the core gets one line
            outcome = Outcome(UNKNOWN, render(self.title, UNKNOWN,
                                              f"internal error: {type(exc).__name__}"))
        for number in (*STOP_SIGNALS, signal.SIGALRM):   # the outcome is final: write it whole
            signal.signal(number, signal.SIG_IGN)
        written = write_out(outcome.output) and not stdout_missing
        os._exit(outcome.code if written else UNKNOWN)

    def stopped_early(self, signum: int) -> Outcome:
        """A stop signal came before the probe could arm its own handling."""
        name = signal.Signals(signum).name
        return Outcome(UNKNOWN, render(self.title, UNKNOWN,
                                       f"stopped by {name} while starting, before any check"))

    def run(self, argv: Sequence[str], stdout: Optional[IO[str]] = None,
            count_start_up: bool = False) -> Outcome:
        """Run the probe in this process; the output is written to ``stdout`` when given."""
        started = time.monotonic() - (process_age() if count_start_up else 0.0)
        redactor = Redactor()
        capture = _Capture()
        watched = [logging.getLogger(name) for name in ("iaso", "nagiosplugin", "urllib3")]
        saved = [(lg.level, lg.propagate) for lg in watched]
        for lg in watched:
            lg.addHandler(capture)
            lg.propagate = False
        try:
            outcome = self._run(list(argv), started, redactor, capture)
        finally:
            for lg, (level, propagate) in zip(watched, saved):
                lg.removeHandler(capture)
                lg.setLevel(level)
                lg.propagate = propagate
        if stdout is not None:
            stdout.write(outcome.output)
            stdout.flush()
        return outcome

    def _run(self, argv: List[str], started: float, redactor: Redactor,
             capture: _Capture) -> Outcome:
        parsed = self._parse(argv)
        if isinstance(parsed, Outcome):
            return parsed
        options, extra = parsed
        level = {0: logging.WARNING, 1: logging.INFO}.get(options.verbosity, logging.DEBUG)
        for name in ("iaso", "nagiosplugin"):
            logging.getLogger(name).setLevel(level)
        logging.getLogger("urllib3").setLevel(max(level, logging.INFO))
        deadline = Deadline(options.timeout, started=started)
        record = RunRecord(self.program, time.time() - deadline.elapsed())
        run: Optional[ProbeRun] = None
        trail = ApplicationLog(redactor)
        deadline.arm()
        try:
            try:
                stops_noted(deadline)     # noted between start-up and arming: acted on now
                record.config = load_config(options.config_path)
                trail.open(record.config.logging, level, record.notes)
                environment = record.config.environment(options.env_name)
                record.environment = environment.name
                run = ProbeRun(options, environment, deadline, redactor)
                record.check = self.build(run, **extra)
                record.check()
                if deadline.stopped_by and int(record.check.state) == 0:
                    raise deadline.terminated()   # its exception was lost in a finaliser
            finally:
                deadline.disarm()
                if run is not None:
                    run.close()
        except IasoError as exc:
            record.error = exc
            record.code = int(state_for(exc))
            env = record.environment
            record.summary = f"{env}: {exc.message}" if env else exc.message
        except Exception as exc:  # noqa: BLE001 - a bug must still give one clean UNKNOWN line
            record.error = exc
            record.code = UNKNOWN
            record.summary = f"internal error: {type(exc).__name__}: {exc}"
            if options.verbosity >= 3:
                record.long_lines = traceback.format_exc().splitlines()
        else:
            check = record.check
            record.code = int(check.state)
            record.summary = check.summary_str
            record.perfdata = perfdata_in_order(check)
            record.long_lines = _lines(check.verbose_str)
        outcome = self._finish(record.code, record.summary, record.perfdata,
                               record.keep(deadline.elapsed(), redactor) + record.long_lines,
                               options, redactor, capture)
        trail.close(f"{self.program} {record.environment or '-'}: {outcome.first_line}")
        return outcome

    def _finish(self, code: int, summary: str, perfdata: Sequence[str], long_lines: List[str],
                options: Optional[CommonOptions], redactor: Redactor,
                capture: Optional[_Capture]) -> Outcome:
        lines = list(long_lines)
        if options is not None and options.verbosity > 0 and capture is not None:
            lines.extend(capture.lines)
        return Outcome(code, render(self.title, code, summary, perfdata, lines, redactor))

    def _parse(self, argv: List[str]) -> Any:
        """(CommonOptions, extra options), or the Outcome of --help, -V or a usage error."""
        command = self.command()
        try:
            result = command.main(args=argv, prog_name=self.program, standalone_mode=False)
        except click.ClickException as exc:
            return self._finish(UNKNOWN, f"usage: {exc.format_message()} (see --help)", (), [],
                                None, Redactor(), None)
        except click.exceptions.Abort:
            return self._finish(UNKNOWN, "usage: aborted", (), [], None, Redactor(), None)
        if not isinstance(result, tuple):
            return Outcome(UNKNOWN, "")
        return result

    def command(self) -> click.Command:
        def callback(config: str, env: Optional[str], timeout: float,
                     warning: Optional[nagiosplugin.Range], critical: Optional[nagiosplugin.Range],
                     verbose: int, **extra: Any) -> Any:
            options = CommonOptions(config_path=config, env_name=env, timeout=timeout,
                                    warning=warning, critical=critical, verbosity=verbose)
            return options, extra

        for decorate in reversed(self.options):
            callback = decorate(callback)
        common: List[Decorator] = [
            click.option("-C", "--config", default=default_path, show_default=False,
                         metavar="FILE",
                         help="Configuration file (default: $IASO_PROBES_CONFIG or "
                              "/etc/iaso-probes/iaso.yaml)."),
            click.option("-E", "--env", metavar="NAME",
                         help="Environment to check, as named in the configuration file."),
            click.option("-t", "--timeout", type=click.FloatRange(min=0.5, max=3600),
                         default=DEFAULT_TIMEOUT, show_default=True, metavar="SECONDS",
                         help="The probe ends itself, with its output, within this time."),
            click.option("-w", "--warning", type=NagiosRange(), default=None,
                         help=f"WARNING range for the {self.thresholds}."),
            click.option("-c", "--critical", type=NagiosRange(), default=None,
                         help=f"CRITICAL range for the {self.thresholds}."),
            click.option("-v", "--verbose", count=True,
                         help="More detail in long output (-v requests, -vv debug, "
                              "-vvv tracebacks)."),
            click.version_option(__version__, "-V", "--version",
                                 message=f"{self.program} (iaso-probes) %(version)s"),
        ]
        for decorate in reversed(common):
            callback = decorate(callback)
        return click.command(self.program, help=self.help_text,
                             context_settings={"max_content_width": 100,
                                               "help_option_names": ["-h", "--help"]})(callback)


def reopen_closed_descriptors() -> bool:
    """Give /dev/null to any of descriptors 0, 1, 2 the process started without, so that no
    file or socket the run opens takes their number (the output would go into it); True when
    stdout was among them (the output has nowhere to go)."""
    missing = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            missing.append(fd)
    for fd in missing:
        opened = os.open(os.devnull, os.O_RDWR)
        if opened != fd:
            os.dup2(opened, fd)
            os.close(opened)
    return 1 in missing


def write_out(output: str) -> bool:
    """Write the output to file descriptor 1 as UTF-8, whatever the locale says.

    A reader gone (EPIPE), a full disk or a closed descriptor is not worth a traceback on
    stderr: the output is lost either way, and the probe leaves UNKNOWN.
    """
    data = output.encode("utf-8", "replace")
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
        while data:
            written = os.write(1, data)
            data = data[written:]
    except (OSError, ValueError):
        return False
    return True


def perfdata_in_order(check: nagiosplugin.Check) -> List[str]:
    """Perfdata in the order the probe measured it (nagiosplugin sorts it by name): the output
    budget keeps the first values, so probes measure their aggregates first."""
    found = []
    for result in check.results.results:   # insertion order; iterating sorts by state
        metric = result.metric
        if metric is not None and metric.contextobj is not None:
            performance = metric.performance()
            if performance:
                found.append(plain_numbers(str(performance)))
    return found


_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+)(.*)$")


def plain_numbers(item: str) -> str:
    """A perfdata item with every number in plain decimal notation, as the plugin guidelines
    require (nagiosplugin writes floats with ``%s``: 5.9e-05)."""
    if item.startswith("'"):
        end = item.find("'=", 1)
        label, rest = (item[: end + 1], item[end + 2:]) if end > 0 else (item, "")
    else:
        label, _, rest = item.partition("=")
    if not rest:
        return item
    parts = rest.split(";")
    for index, part in enumerate(parts):
        match = _NUMBER.match(part)
        if match:
            text = f"{float(match.group(1)):.12f}".rstrip("0").rstrip(".")
            parts[index] = (text if text not in ("", "-0") else "0") + match.group(2)
    return f"{label}={';'.join(parts)}"


def _lines(text: Any) -> List[str]:
    if isinstance(text, (list, tuple)):
        return [str(line) for line in text]
    return str(text).splitlines() if text else []
