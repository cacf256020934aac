"""The service-desk commands a core and cron run.

``iaso-servicedesk-notify``: the core's notification command. It spools the notification
first, then delivers everything spooled, in order, within its time budget. When the desk is
down it says so on stderr (for the core's log) and exits 0 at once: the notification waits in
the spool, delivered at the next notification or by ``iaso-servicedesk-flush``.

``iaso-servicedesk-flush``: delivers what waits; a plugin-style line, usable as a core check.

``iaso-servicedesk-sync``: flushes, then acknowledges in the core every ticket someone took or
resolved by hand (docs/service-desk.md, "Acknowledgement back").
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, List, Optional

import click

from .. import __version__
from ..deadline import Deadline
from ..errors import ConfigError, DeskError, IasoError, ProbeInterrupted
from ..states import State
from . import mail
from .acknowledgement import CoreUnreachable, IcingaApi, NagiosCommandFile, synchronise
from .notification import Action, Notification, build
from .rt_rest import RtRest
from .settings import DEFAULT_PATH, DEFAULT_SPOOL, DeskSettings, MailDesk, load_settings, origin_for
from .spool import FlushReport, Spool

CONFIG_ENV = "IASO_SERVICEDESK_CONFIG"
CORES = ("nagios", "icinga2")

# Nagios 4 and Naemon strip illegal_macro_output_chars ($, `, quotes...) from these macros on a
# command line; with enable_environment_macros=1 the same values arrive untouched here.
NAGIOS_TEXT = {
    "output": ("NAGIOS_SERVICEOUTPUT", "NAGIOS_HOSTOUTPUT"),
    "details": ("NAGIOS_LONGSERVICEOUTPUT", "NAGIOS_LONGHOSTOUTPUT"),
    "author": ("NAGIOS_NOTIFICATIONAUTHOR", "NAGIOS_NOTIFICATIONAUTHOR"),
    "comment": ("NAGIOS_NOTIFICATIONCOMMENT", "NAGIOS_NOTIFICATIONCOMMENT"),
}

CONTEXT = {"help_option_names": ["-h", "--help"]}


def config_path(option: Optional[str]) -> Optional[str]:
    """-C, else $IASO_SERVICEDESK_CONFIG, else the default file when it exists."""
    if option is not None:
        return option or None
    if os.environ.get(CONFIG_ENV):
        return os.environ[CONFIG_ENV]
    return DEFAULT_PATH if os.path.exists(DEFAULT_PATH) else None


class Delivery:
    """How one notification reaches the configured desk, no exchange outliving ``until``."""

    def __init__(self, settings: DeskSettings, until: float) -> None:
        self.settings = settings
        self.until = until
        self.rest = (RtRest(settings.rest, settings.request_timeout, until=until)
                     if settings.rest is not None else None)

    def __call__(self, notification: Notification) -> object:
        if self.rest is not None:
            return self.rest.deliver(notification)
        assert self.settings.mail is not None
        remaining = self.until - time.monotonic()
        mail.send(notification, self.settings.mail,
                  min(self.settings.request_timeout, max(0.1, remaining)))
        return None

    @property
    def warnings(self) -> List[str]:
        return self.rest.warnings if self.rest is not None else []


def nagios_text(values: Dict[str, str], service: bool,
                environment: Dict[str, str]) -> Dict[str, str]:
    """The text macros, from the environment when the core exported it."""
    if "NAGIOS_NOTIFICATIONTYPE" not in environment:
        if values.get("details"):
            values["details"] = values["details"].replace("\\n", "\n")
        return values
    for field, (for_service, for_host) in NAGIOS_TEXT.items():
        name = for_service if service else for_host
        if name in environment:
            values[field] = environment[name]
    values["details"] = values.get("details", "").replace("\\n", "\n")
    return values


def fail(message: str, state: State = State.UNKNOWN) -> None:
    click.echo(f"iaso-servicedesk: {message}", err=True)
    sys.exit(int(state))


class Journal:
    """What a run did, one line per event: on stderr (a core may log it), and appended to the
    configured journal file (Nagios keeps no notification command's output)."""

    def __init__(self, path: Optional[str], program: str, loud: bool = True) -> None:
        self.path = path
        self.program = program
        self.loud = loud

    def __call__(self, line: str, loud: Optional[bool] = None) -> None:
        if self.loud if loud is None else loud:
            click.echo(f"{self.program}: {line}", err=True)
        if not self.path:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = f"{stamp} {self.program}[{os.getpid()}] {line}\n".encode("utf-8", "replace")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, text)
            finally:
                os.close(fd)
        except OSError:
            pass


def waiting_note(report: FlushReport, spool: Spool) -> str:
    return (f"{report.waiting} notification(s) wait in {spool.queue} ({report.reason}); "
            f"delivered at the next notification or by iaso-servicedesk-flush")


@click.command("iaso-servicedesk-notify", context_settings=CONTEXT)
@click.option("-C", "--config", default=None, help="Service-desk configuration file "
              f"(${CONFIG_ENV}, else {DEFAULT_PATH} when present).")
@click.option("--core", type=click.Choice(CORES), default="nagios", show_default=True,
              help="The core that calls: how its problem IDs are read.")
@click.option("--origin", default=None, help="Names this core in ticket keys (default: the "
              "configuration's origin, else the core's name).")
@click.option("--sendmail", default=None, help="sendmail-compatible program ($USER12$) for "
              "this run (later deliveries use desk.sendmail).")
@click.option("--to", default=None, help="The desk's mail gateway ($CONTACTEMAIL$); kept with "
              "the notification.")
@click.option("--type", "kind", required=True, help="$NOTIFICATIONTYPE$")
@click.option("--host", required=True, help="$HOSTNAME$")
@click.option("--service", default=None, help="$SERVICEDESC$ (absent for a host)")
@click.option("--state", required=True, help="$SERVICESTATE$ or $HOSTSTATE$")
@click.option("--problem-id", default="", help="$SERVICEPROBLEMID$ / $HOSTPROBLEMID$; "
              "Icinga 2: $service.last_state_ok$ / $host.last_state_up$")
@click.option("--last-problem-id", default="", help="$LASTSERVICEPROBLEMID$ / "
              "$LASTHOSTPROBLEMID$")
@click.option("--notification-id", default="", help="$SERVICENOTIFICATIONID$ / "
              "$HOSTNOTIFICATIONID$")
@click.option("--timet", default="", help="$TIMET$")
@click.option("--environment", default="", help="$_HOSTIASO_ENV$")
@click.option("--attempt", default="", help="$SERVICEATTEMPT$/$MAXSERVICEATTEMPTS$")
@click.option("--time", "when", default="", help="$LONGDATETIME$")
@click.option("--output", default="", help="$SERVICEOUTPUT$")
@click.option("--details", default="", help="$LONGSERVICEOUTPUT$")
@click.option("--runbook", default="", help="$SERVICENOTESURL$")
@click.option("--author", default="", help="$NOTIFICATIONAUTHOR$")
@click.option("--comment", default="", help="$NOTIFICATIONCOMMENT$")
@click.option("-t", "--timeout", type=float, default=None,
              help="Seconds this run may take in all (default: the configuration's timeout).")
@click.version_option(__version__, "-V", "--version")
def notify(config: Optional[str], core: str, origin: Optional[str], sendmail: Optional[str],
           to: Optional[str], kind: str, host: str, service: Optional[str], state: str,
           problem_id: str, last_problem_id: str, notification_id: str, timet: str,
           environment: str, attempt: str, when: str, output: str, details: str, runbook: str,
           author: str, comment: str, timeout: Optional[float]) -> None:
    """Turn one notification of a core into its ticket (docs/service-desk.md)."""
    started = time.monotonic()
    path = config_path(config)
    if path and not os.path.exists(path) and (sendmail or to):
        # Not set up yet: the mail still goes, through the command line's sendmail and address.
        click.echo(f"iaso-servicedesk: {path} does not exist: mail through --sendmail and --to, "
                   f"spooled in {DEFAULT_SPOOL} (docs/service-desk.md)", err=True)
        path = None
    try:
        settings = load_settings(path)
    except IasoError as exc:
        fail(f"notification NOT delivered, configuration unusable: {exc.message}")
    if settings.mail is not None and (sendmail or to):
        settings = settings._replace(mail=MailDesk(
            sendmail=sendmail or settings.mail.sendmail, to=to or settings.mail.to,
            sender=settings.mail.sender))
    name = origin_for(settings, core, origin)
    if not all(c.isalnum() or c in "-_." for c in name):
        fail(f"--origin {name!r}: letters, digits, '-', '_' and '.' only")
    text = {"environment": environment, "attempt": attempt, "time": when, "output": output,
            "details": details, "runbook": runbook, "author": author, "comment": comment}
    if core == "nagios":
        text = nagios_text(text, bool(service), dict(os.environ))
    elif not details and "\n" in output:      # Icinga 2's output holds the long output too
        text["output"], _, text["details"] = output.partition("\n")
    if settings.mail is not None:
        text["to"] = settings.mail.to
    notification = build(core=core, origin=name, kind=kind, host=host, service=service,
                         state=state, problem_id=problem_id, last_problem_id=last_problem_id,
                         core_notification_id=notification_id, timet=timet, **text)
    journal = Journal(settings.journal, "iaso-servicedesk-notify")
    if notification.action is Action.NONE:
        journal(f"{notification.kind} {notification.object_name} ({notification.state}) "
                f"concerns no open problem: no ticket")
        return
    deadline = Deadline(timeout if timeout is not None else settings.timeout, started)
    until = deadline.at
    deliver = Delivery(settings, until)
    spool = Spool(settings.spool)
    try:
        spool.put(notification)
    except (OSError, ConfigError) as exc:
        reason = exc.message if isinstance(exc, ConfigError) else exc.strerror
        try:
            outcome = deliver(notification)
        except DeskError as error:
            journal(f"notification LOST: the spool {settings.spool} is unusable ({reason}) and "
                    f"the desk did not take it ({error.message})", loud=False)
            fail(f"notification LOST: the spool {settings.spool} is unusable ({reason}) and "
                 f"the desk did not take it ({error.message})", State.CRITICAL)
        journal(f"spool {settings.spool} unusable ({reason}); delivered directly: "
                f"{outcome or 'sent'}")
        return
    journal(f"spooled {notification.kind} {notification.object_name} "
            f"[{notification.key or '-'}] {notification.notification_id}", loud=False)
    quiet = Journal(settings.journal, journal.program, loud=False)
    deadline.arm()      # a desk that drips its answer cannot keep the core's command waiting
    try:
        # The core may have started the notification before this one a moment ago (it runs
        # them side by side): let it reach the spool, so that both go out in the core's order.
        time.sleep(max(0.0, min(settings.settle, until - time.monotonic())))
        report = spool.flush(deliver, until, journal=quiet)
    except ProbeInterrupted as exc:
        report = FlushReport(0, 0, len(spool.waiting()), exc.message)
    finally:
        deadline.disarm()
    for warning in deliver.warnings:
        journal(warning)
    if report.waiting:
        journal(waiting_note(report, spool))


def flush_report(report: FlushReport, spool: Spool) -> State:
    rejected = len(spool.rejected_files())
    perfdata = (f"waiting={report.waiting};;;0 delivered={report.delivered};;;0 "
                f"rejected={rejected};;;0")
    if rejected:
        state, line = State.CRITICAL, (f"{rejected} notification(s) refused by the desk wait "
                                       f"for a person in {spool.rejected}")
    elif report.waiting:
        state, line = State.WARNING, waiting_note(report, spool)
    else:
        state, line = State.OK, f"spool empty, {report.delivered} delivered"
    click.echo(f"SERVICEDESK SPOOL {state.name} - {line} | {perfdata}")
    return state


@click.command("iaso-servicedesk-flush", context_settings=CONTEXT)
@click.option("-C", "--config", default=None, help="Service-desk configuration file.")
@click.option("-t", "--timeout", type=float, default=50.0, show_default=True,
              help="Seconds this run may take in all.")
@click.version_option(__version__, "-V", "--version")
def flush(config: Optional[str], timeout: float) -> None:
    """Deliver the spooled notifications, in order (cron, or a core check every minute)."""
    deadline = Deadline(timeout)
    try:
        settings = load_settings(config_path(config))
        spool = Spool(settings.spool)
        deadline.arm()
        try:
            report = spool.flush(Delivery(settings, deadline.at), deadline.at,
                                 journal=Journal(settings.journal, "iaso-servicedesk-flush",
                                                 False))
        except ProbeInterrupted as exc:
            report = FlushReport(0, 0, len(spool.waiting()), exc.message)
        finally:
            deadline.disarm()
    except IasoError as exc:
        click.echo(f"SERVICEDESK SPOOL UNKNOWN - {exc.message}")
        sys.exit(int(State.UNKNOWN))
    except OSError as exc:
        click.echo(f"SERVICEDESK SPOOL UNKNOWN - spool unusable: {exc.strerror}")
        sys.exit(int(State.UNKNOWN))
    sys.exit(int(flush_report(report, spool)))


@click.command("iaso-servicedesk-sync", context_settings=CONTEXT)
@click.option("-C", "--config", default=None, help="Service-desk configuration file.")
@click.option("--core", type=click.Choice(CORES), default="nagios", show_default=True)
@click.option("--origin", default=None, help="Acknowledge the tickets of this origin.")
@click.option("-t", "--timeout", type=float, default=50.0, show_default=True,
              help="Seconds this run may take in all.")
@click.version_option(__version__, "-V", "--version")
def sync(config: Optional[str], core: str, origin: Optional[str], timeout: float) -> None:
    """Acknowledge in the core the problems whose tickets were taken or resolved by hand."""
    started = time.monotonic()
    try:
        settings = load_settings(config_path(config))
        if settings.rest is None:
            raise ConfigError("the way back reads the desk through REST: desk.kind rt-rest")
        target: Any = None
        if core == "nagios" and settings.nagios is not None:
            target = NagiosCommandFile(settings.nagios)
        elif core == "icinga2" and settings.icinga2 is not None:
            target = IcingaApi(settings.icinga2, settings.request_timeout)
        if target is None:
            raise ConfigError(f"acknowledge: no way into {core} is configured "
                              f"(nagios_command_file or icinga2_url)")
        spool = Spool(settings.spool)
        journal = Journal(settings.journal, "iaso-servicedesk-sync", False)
        half = started + timeout * 0.5
        flushed = spool.flush(Delivery(settings, half), half, journal=journal)
        deadline = Deadline(timeout, started)
        desk = RtRest(settings.rest, settings.request_timeout, until=deadline.at)
        deadline.arm()
        try:
            report = synchronise(desk, target, core, origin_for(settings, core, origin),
                                 settings.author)
        finally:
            deadline.disarm()
    except DeskError as exc:
        click.echo(f"SERVICEDESK SYNC WARNING - desk unreachable: "
                   f"{exc.message}")
        sys.exit(int(State.WARNING))
    except ProbeInterrupted as exc:
        click.echo(f"SERVICEDESK SYNC WARNING - stopped before the end: {exc.message}")
        sys.exit(int(State.WARNING))
    except CoreUnreachable as exc:
        click.echo(f"SERVICEDESK SYNC WARNING - the core took no acknowledgement: "
                   f"{exc.message}")
        sys.exit(int(State.WARNING))
    except IasoError as exc:
        click.echo(f"SERVICEDESK SYNC UNKNOWN - {exc.message}")
        sys.exit(int(State.UNKNOWN))
    state = State.WARNING if flushed.waiting else State.OK
    click.echo(f"SERVICEDESK SYNC {state.name} - {len(report.acknowledged)} acknowledged, "
               f"{len(report.skipped)} skipped, {flushed.waiting} notification(s) waiting | "
               f"acknowledged={len(report.acknowledged)};;;0 waiting={flushed.waiting};;;0")
    for line in report.acknowledged + report.skipped:
        click.echo(line)
        journal(line)
    sys.exit(int(state))
