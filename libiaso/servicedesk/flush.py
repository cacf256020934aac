"""``iaso-servicedesk-flush``: delivers what waits in the spool, in order; a plugin's line,
usable as a core check (OK empty, WARNING waiting or held, CRITICAL refused by the desk)."""
from __future__ import annotations

import sys
from typing import Optional

import click

from .. import __version__
from ..deadline import Deadline, stops_noted
from ..errors import IasoError, ProbeInterrupted
from ..states import State
from .delivery import Delivery
from .held import Held
from .journal import Journal
from .program import (
    CONTEXT,
    SECONDS,
    PluginCommand,
    config_path,
    plugin_text,
    settle_held,
    unknown,
    waiting_note,
)
from .settings import load_settings
from .spool import FlushReport, Spool


def flush_report(report: FlushReport, spool: Spool, held: int, journal: Journal) -> State:
    rejected = len(spool.rejected_files())
    perfdata = (f"waiting={report.waiting};;;0 delivered={report.delivered};;;0 "
                f"rejected={rejected};;;0 held={held};;;0")
    if rejected:
        state, line = State.CRITICAL, (f"{rejected} notification(s) refused by the desk wait "
                                       f"for a person in {spool.rejected}")
    elif report.waiting:
        state, line = State.WARNING, waiting_note(report, spool)
    elif held:
        state, line = State.WARNING, (f"{held} notification(s) held in {Held().directory} "
                                      f"for another configuration file, which cannot be read")
    else:
        state, line = State.OK, f"spool empty, {report.delivered} delivered"
    click.echo(f"SERVICEDESK SPOOL {state.name} - {plugin_text(line)} | {perfdata}")
    if journal.problem:
        click.echo(plugin_text(journal.problem))
    return state


@click.command("iaso-servicedesk-flush", cls=PluginCommand, label="SERVICEDESK SPOOL",
               context_settings=CONTEXT)
@click.option("-C", "--config", default=None, help="Service-desk configuration file.")
@click.option("-t", "--timeout", type=SECONDS, default=50.0, show_default=True,
              help="Seconds this run may take in all.")
@click.version_option(__version__, "-V", "--version")
def flush(config: Optional[str], timeout: float) -> None:
    """Deliver the spooled notifications, in order (cron, or a core check every minute)."""
    deadline = Deadline(timeout)
    deadline.arm()
    try:
        stops_noted(deadline)
        path = config_path(config)
        settings = load_settings(path)
        journal = Journal(settings.journal, "iaso-servicedesk-flush", False)
        spool = Spool(settings.spool)
        held = settle_held(path, settings, spool, deadline, journal)
        try:
            report = spool.flush(Delivery(settings, deadline.at), deadline.at, journal=journal)
        except ProbeInterrupted as exc:
            report = FlushReport(0, 0, len(spool.waiting()), exc.message)
        state = flush_report(report, spool, held, journal)
    except ProbeInterrupted as exc:
        unknown("SERVICEDESK SPOOL", f"stopped before the end: {exc.message}")
    except IasoError as exc:
        unknown("SERVICEDESK SPOOL", exc.message)
    except OSError as exc:
        unknown("SERVICEDESK SPOOL", f"spool unusable: {exc.strerror or exc}")
    finally:
        deadline.disarm()
    sys.exit(int(state))
