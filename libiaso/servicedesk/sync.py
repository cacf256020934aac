"""``iaso-servicedesk-sync``: flushes the spool, then acknowledges in the core every ticket
someone took or resolved by hand (docs/service-desk.md, "Acknowledgement back"); a plugin's
line, usable as a core check."""
from __future__ import annotations

import sys
import time
from typing import Any, List, Optional

import click

from .. import __version__
from ..deadline import Deadline, stops_noted
from ..errors import ConfigError, DeskError, IasoError, ProbeInterrupted
from ..states import State
from .acknowledgement import CoreUnreachable, IcingaApi, NagiosCommandFile, synchronise
from .delivery import Delivery
from .journal import Journal
from .program import (
    CONTEXT,
    CORES,
    SECONDS,
    PluginCommand,
    config_path,
    plugin_text,
    settle_held,
    unknown,
    warning,
)
from .rt_rest import RtRest
from .settings import load_settings, origin_for
from .spool import Spool


@click.command("iaso-servicedesk-sync", cls=PluginCommand, label="SERVICEDESK SYNC",
               context_settings=CONTEXT)
@click.option("-C", "--config", default=None, help="Service-desk configuration file.")
@click.option("--core", type=click.Choice(CORES), default="nagios", show_default=True)
@click.option("--origin", default=None, help="Acknowledge the tickets of this origin.")
@click.option("-t", "--timeout", type=SECONDS, default=50.0, show_default=True,
              help="Seconds this run may take in all.")
@click.version_option(__version__, "-V", "--version")
def sync(config: Optional[str], core: str, origin: Optional[str], timeout: float) -> None:
    """Acknowledge in the core the problems whose tickets were taken or resolved by hand."""
    started = time.monotonic()
    deadline = Deadline(timeout, started)
    deadline.arm()
    label = "SERVICEDESK SYNC"
    try:
        stops_noted(deadline)
    except ProbeInterrupted as exc:      # nothing asked yet: not the desk's fault
        deadline.disarm()
        unknown(label, exc.message)
    try:
        path = config_path(config)
        settings = load_settings(path)
        if settings.rest is None:
            raise ConfigError("the way back reads the desk through REST: desk.kind rt-rest")
        target: Any = None
        if core == "nagios" and settings.nagios is not None:
            target = NagiosCommandFile(settings.nagios, until=deadline.at)
        elif core == "icinga2" and settings.icinga2 is not None:
            target = IcingaApi(settings.icinga2, settings.request_timeout, until=deadline.at)
        if target is None:
            raise ConfigError(f"acknowledge: no way into {core} is configured "
                              f"(nagios_command_file or icinga2_url)")
        name = origin_for(settings, core, origin)
        journal = Journal(settings.journal, "iaso-servicedesk-sync", False)
        spool = Spool(settings.spool)
        settle_held(path, settings, spool, deadline, journal)
        half = started + (deadline.at - started) * 0.5    # the rest is the way back's
        flushed = spool.flush(Delivery(settings, half), half, journal=journal)
        desk = RtRest(settings.rest, settings.request_timeout, until=deadline.at)
        report = synchronise(desk, target, core, name, settings.author)
    except DeskError as exc:
        warning(label, f"desk unreachable: {exc.message}")
    except CoreUnreachable as exc:
        warning(label, f"the core took no acknowledgement: {exc.message}")
    except ProbeInterrupted as exc:
        warning(label, f"stopped before the end: {exc.message}")
    except IasoError as exc:
        unknown(label, exc.message)
    except OSError as exc:
        unknown(label, f"spool unusable: {exc.strerror or exc}")
    finally:
        deadline.disarm()
    state = State.WARNING if flushed.waiting or report.refused else State.OK
    counts = [f"{len(report.acknowledged)} acknowledged", f"{len(report.skipped)} skipped"]
    if report.refused:
        counts.append(f"{len(report.refused)} refused (ticket fields unusable: a person must "
                      f"look)")
    click.echo(f"{label} {state.name} - {', '.join(counts)}, {flushed.waiting} "
               f"notification(s) waiting | acknowledged={len(report.acknowledged)};;;0 "
               f"waiting={flushed.waiting};;;0 refused={len(report.refused)};;;0")
    lines: List[str] = report.refused + report.acknowledged + report.skipped
    for line in lines:
        click.echo(plugin_text(line))
        journal(line)
    if journal.problem:
        click.echo(plugin_text(journal.problem))
    sys.exit(int(state))
