"""``iaso-servicedesk-notify``: the core's notification command.

It spools the notification first, then delivers everything spooled, in order, within its time
budget. When the desk is down it says so on stderr (for the core's log) and in the journal,
and exits 0 at once: the notification waits in the spool, delivered at the next notification
or by ``iaso-servicedesk-flush``. When its configuration cannot be read, the notification is
held under the default spool (held.py) and delivered once it can.
"""
from __future__ import annotations

import os
import time
from typing import Optional, Tuple

import click

from .. import __version__
from ..deadline import Deadline, stops_noted
from ..errors import ConfigError, DeskError, IasoError, ProbeInterrupted
from ..states import State
from . import settings as desk_settings
from .delivery import Delivery
from .held import Held
from .intake import Intake
from .journal import Journal
from .notification import Action, Notification
from .program import (
    CONFIG_ENV,
    CONTEXT,
    CORES,
    SECONDS,
    config_path,
    fail,
    settle_held,
    waiting_note,
)
from .settings import DEFAULT_PATH, DeskSettings, MailDesk, load_settings
from .spool import FlushReport, Spool, reason_of

DEFAULT_TIMEOUT = 20.0


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
@click.option("-t", "--timeout", type=SECONDS, default=None,
              help="Seconds this run may take in all (default: the configuration's timeout).")
@click.version_option(__version__, "-V", "--version")
def notify(config: Optional[str], core: str, origin: Optional[str], sendmail: Optional[str],
           to: Optional[str], kind: str, host: str, service: Optional[str], state: str,
           problem_id: str, last_problem_id: str, notification_id: str, timet: str,
           environment: str, attempt: str, when: str, output: str, details: str, runbook: str,
           author: str, comment: str, timeout: Optional[float]) -> None:
    """Turn one notification of a core into its ticket (docs/service-desk.md)."""
    started = time.monotonic()
    deadline = Deadline(timeout if timeout is not None else DEFAULT_TIMEOUT, started)
    deadline.arm()
    try:
        intake = Intake.of_run(
            core=core, config=config_path(config), origin=origin, kind=kind, host=host,
            service=service, state=state, problem_id=problem_id, last_problem_id=last_problem_id,
            notification_id=notification_id, timet=timet, to=to, environment=os.environ,
            text={"environment": environment, "attempt": attempt, "time": when,
                  "output": output, "details": details, "runbook": runbook, "author": author,
                  "comment": comment})
        with deadline.held():      # the notification is kept before anything else can fail
            path, settings, notification = configured(intake, config, sendmail, to)
        if timeout is None and settings.timeout != deadline.timeout:
            deadline.disarm()
            deadline = Deadline(settings.timeout, started)
            deadline.arm()
        deliver_notification(path, settings, notification, deadline)
    except ProbeInterrupted as exc:
        click.echo(f"iaso-servicedesk-notify: {exc.message}", err=True)
    finally:
        deadline.disarm()


def configured(intake: Intake, config: Optional[str], sendmail: Optional[str],
               to: Optional[str]) -> Tuple[Optional[str], DeskSettings, Notification]:
    """The configuration file, its settings and the notification they make of ``intake``;
    when the file cannot be read, the intake is held (nothing is lost) and the run ends,
    UNKNOWN."""
    path = config_path(config)
    if path and not os.path.exists(path) and (sendmail or to):
        # Not set up yet: the mail still goes, through the command line's sendmail and address.
        click.echo(f"iaso-servicedesk: {path} does not exist: mail through --sendmail and --to, "
                   f"spooled in {desk_settings.default_spool()} (docs/service-desk.md)",
                   err=True)
        path = None
    try:
        settings = load_settings(path)
        if settings.mail is not None and (sendmail or to):
            settings = settings._replace(mail=MailDesk(
                sendmail=sendmail or settings.mail.sendmail, to=to or settings.mail.to,
                sender=settings.mail.sender))
        return path, settings, intake.notification(settings)
    except IasoError as exc:
        held = Held()
        try:
            kept = held.keep(intake)
        except OSError as error:
            fail(f"notification LOST: configuration unusable ({exc.message}) and "
                 f"{held.directory} cannot keep it ({error.strerror or error})", State.CRITICAL)
        fail(f"configuration unusable: {exc.message}; notification kept in {kept}, delivered "
             f"once the configuration can be read (next notification, flush or sync)")


def deliver_notification(path: Optional[str], settings: DeskSettings,
                         notification: Notification, deadline: Deadline) -> None:
    journal = Journal(settings.journal, "iaso-servicedesk-notify")
    quiet = journal.quiet()
    spool = Spool(settings.spool)
    try:
        settle_held(path, settings, spool, deadline, quiet)
    except (OSError, ConfigError) as exc:
        journal(f"held notifications not settled: the spool {settings.spool} is unusable "
                f"({reason_of(exc)})")
    if notification.action is Action.NONE:
        journal(f"{notification.kind} {notification.object_name} ({notification.state}) "
                f"concerns no open problem: no ticket")
        return
    deliver = Delivery(settings, deadline.at)
    try:
        with deadline.held():
            spool.put(notification)
    except (OSError, ConfigError) as exc:
        deliver_directly(settings, notification, deliver, journal, reason_of(exc))
        return
    journal(f"spooled {notification.kind} {notification.object_name} "
            f"[{notification.key or '-'}] {notification.notification_id}", loud=False)
    try:
        stops_noted(deadline)
        # The core may have started the notification before this one a moment ago (it runs
        # them side by side): let it reach the spool, so that both go out in the core's order.
        time.sleep(max(0.0, min(settings.settle, deadline.at - time.monotonic())))
        report = spool.flush(deliver, deadline.at, journal=quiet)
    except ProbeInterrupted as exc:
        report = FlushReport(0, 0, waiting(spool), exc.message)
    except (OSError, ConfigError) as exc:
        report = FlushReport(0, 0, max(1, waiting(spool)), f"spool unusable: {reason_of(exc)}")
    for warning in deliver.warnings:
        journal(warning)
    if report.waiting:
        journal(waiting_note(report, spool))


def waiting(spool: Spool) -> int:
    """How many wait, for a run cut short (0 when the queue cannot even be listed)."""
    try:
        return len(spool.waiting())
    except OSError:
        return 0


def deliver_directly(settings: DeskSettings, notification: Notification, deliver: Delivery,
                     journal: Journal, reason: str) -> None:
    """The spool cannot keep the notification: the desk is its only chance."""
    try:
        outcome = deliver(notification)
    except (DeskError, ProbeInterrupted) as error:
        journal(f"notification LOST: the spool {settings.spool} is unusable ({reason}) and "
                f"the desk did not take it ({error.message})", loud=False)
        fail(f"notification LOST: the spool {settings.spool} is unusable ({reason}) and "
             f"the desk did not take it ({error.message})", State.CRITICAL)
    journal(f"spool {settings.spool} unusable ({reason}); delivered directly: "
            f"{outcome or 'sent'}")
