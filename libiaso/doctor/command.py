"""``iaso-profile-doctor``: walk a live API with one environment's profile, and say what fits.

The tool an operator runs on day one at a new site, and pastes into a ticket: for each endpoint,
what was sent (secrets masked), what came back (a bounded excerpt) and how every configured field
read, then a verdict per probe. Read-only unless ``--launch`` is given with a named test host or
restore test. Exit 0 when every call tried reads as the probes expect, 1 when one does not or the
walk ran out of its -t first (the steps left are shown as not examined, UNKNOWN, and are never
called), 2 on a usage or configuration error.
"""
from __future__ import annotations

import sys
from typing import List, Optional

import click

from .. import __version__
from ..config.settings import default_path, load_config
from ..errors import IasoError
from ..states import State
from .examination import Examination, Examiner

WIDTH = 100


def render(examination: Examination) -> str:
    """The examination as plain text, at most a few lines per endpoint."""
    lines = [f"IASO profile doctor {__version__}: environment {examination.environment}, "
             f"{examination.base_url}, profile {examination.profile}", ""]
    for call in examination.calls:
        if call.state is None:
            lines.append(f"{call.role:<11} skipped: {call.verdict}")
            continue
        if not call.examined:
            lines.append(f"{call.role:<11} {call.verdict}")
            continue
        lines.append(f"{call.role:<11} {call.request}")
        if call.sent:
            lines.append(f"{'':<11} sent  {call.sent}")
        if call.answer:
            lines.append(f"{'':<11} got   {call.answer}")
        for found in call.fields:
            if not found.found and found.problem.startswith("not checked"):
                text = found.problem
            elif not found.found and found.problem.startswith("optional"):
                text = f"absent ({found.problem})"
            elif not found.found:
                text = f"NOT FOUND{': ' + found.problem if found.problem else ''}"
            elif found.problem:
                text = f"found ({found.kind}) but {found.problem}"
            else:
                text = f"found, {found.kind}: {found.value}"
            lines.append(f"{'':<11} field {found.name} = {found.path}: {text}")
        lines.extend(f"{'':<11} {detail}" for detail in call.details)
        lines.append(f"{'':<11} => {call.state.name}: {call.verdict}")
    lines.append("")
    lines.append("Verdicts:")
    for verdict in examination.verdicts:
        state = verdict.state.name if verdict.state is not None else "-"
        lines.append(f"  {verdict.probe:<26} {state:<9} {verdict.reason}")
    if examination.stopped:
        lines.append("")
        lines.append(f"The walk stopped early, {examination.stopped}: the steps marked "
                     "'not examined' were not called, and say nothing of the API.")
    return "\n".join(line[:400] for line in lines) + "\n"


@click.command("iaso-profile-doctor", context_settings={"help_option_names": ["-h", "--help"],
                                                        "max_content_width": WIDTH})
@click.option("-C", "--config", default=default_path, metavar="FILE",
              help="Configuration file (default: $IASO_PROBES_CONFIG or "
                   "/etc/iaso-probes/iaso.yaml).")
@click.option("-E", "--env", metavar="NAME", help="Environment to examine.")
@click.option("-t", "--timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
              metavar="SECONDS", help="Time for the whole walk.")
@click.option("--job-id", metavar="ID", help="Read this existing job's status (read-only).")
@click.option("--job-host", metavar="HOST", help="The host of --job-id, if the API wants it.")
@click.option("--launch", is_flag=True,
              help="Allow the calls that start a job (with --host or --restore).")
@click.option("--host", "launch_host", metavar="HOST",
              help="With --launch: start a backup of this test host.")
@click.option("-l", "--level", default="incremental", show_default=True,
              help="Backup level for --host.")
@click.option("--restore", "restore_name", metavar="NAME",
              help="With --launch: run this restore test from the configuration.")
@click.version_option(__version__, "-V", "--version")
def main(config: str, env: Optional[str], timeout: float, job_id: Optional[str],
         job_host: Optional[str], launch: bool, launch_host: Optional[str], level: str,
         restore_name: Optional[str]) -> None:
    """Walk each configured endpoint of a live API and show how the profile reads it."""
    if (launch_host or restore_name) and not launch:
        raise click.UsageError("--host and --restore start jobs: add --launch to allow it")
    try:
        environment = load_config(config).environment(env)
        restore = None
        if restore_name:
            if restore_name not in environment.restores:
                raise click.UsageError(f"unknown restore test {restore_name!r}; configured: "
                                       f"{', '.join(environment.restores) or 'none'}")
            restore = (restore_name, environment.restores[restore_name])
        examiner = Examiner(environment, timeout)
        try:
            examination = examiner.examine(job_id=job_id, job_host=job_host,
                                           launch_host=launch_host if launch else None,
                                           level=level, restore=restore)
        finally:
            examiner.close()
    except IasoError as exc:
        click.echo(f"iaso-profile-doctor: {exc.message}", err=True)
        sys.exit(2)
    click.echo(render(examination), nl=False)
    tried: List[State] = [v.state for v in examination.verdicts if v.state is not None]
    sys.exit(0 if all(state is State.OK for state in tried) else 1)


if __name__ == "__main__":
    main()
