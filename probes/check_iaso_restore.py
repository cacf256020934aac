"""check_iaso_restore: do restores through IASO really succeed, end to end?

Restore one file of one host to a destination, then follow the job to its outcome: statefully
across short runs (the default) or in one run with --wait. See docs/probes/check_iaso_restore.md.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Tuple

import click
import nagiosplugin

from libiaso.config.profile import ad_hoc_refusal
from libiaso.config.settings import RestoreTarget
from libiaso.errors import ProbeUsageError
from libiaso.jobs.calls import start_restore
from libiaso.jobs.check import JobTarget, TargetKey, identity_of, job_check, target_text
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe

OPTIONS = [
    click.option("-R", "--restore", "restore_name", metavar="NAME",
                 help="Restore test from the configuration (restores section)."),
    click.option("-H", "--hostname", metavar="HOST", help="Host whose file is restored."),
    click.option("--file", "file_name", metavar="NAME", help="Name of the file to restore."),
    click.option("--path", "source_path", metavar="DIR", help="Directory holding the file."),
    click.option("--destination", metavar="DIR", help="Where to restore it."),
    click.option("--wait", is_flag=True,
                 help="Launch and follow to the end within -t, instead of across runs."),
    click.option("--relaunch-after", type=click.FloatRange(min=0), metavar="SECONDS",
                 help="Launch anew once the last restore ended and is older than this "
                      "(default: jobs.restore_interval, one day)."),
]


def restore_target(run: ProbeRun, restore_name: Optional[str], hostname: Optional[str],
                   file_name: Optional[str], source_path: Optional[str],
                   destination: Optional[str], wait: bool = False
                   ) -> Tuple[TargetKey, RestoreTarget]:
    """What the state is kept under, and what to restore."""
    given = [hostname, file_name, source_path, destination]
    if restore_name:
        if any(given):
            raise ProbeUsageError("-R NAME cannot be combined with -H, --file, --path or "
                                  "--destination")
        restores = run.environment.restores
        if restore_name not in restores:
            raise ProbeUsageError(f"unknown restore test {restore_name!r}; configured: "
                                  f"{', '.join(restores) or 'none'}")
        target, key = restores[restore_name], TargetKey(restore_name)
        where = f"restore test {restore_name}: "
    else:
        if not all(given):
            raise ProbeUsageError("give -R NAME, or all of -H, --file, --path and --destination")
        refused = ad_hoc_refusal(run.environment.profile, "restore", listing=not wait)
        if refused:
            raise ProbeUsageError(f"{refused}, which only configured restore tests carry "
                                  "(params:): use -R")
        target = RestoreTarget(hostname or "", file_name or "", source_path or "",
                               destination or "")
        key = TargetKey(f"{target.hostname}-{target.file_name}", _fields(target),
                        legacy=f"{target.hostname}-{target.file_name}")
        where = ""
    target_text(target.hostname, f"{where}hostname")
    target_text(target.file_name, f"{where}file name", path_like=True)
    target_text(target.source_path, f"{where}path", path_like=True)
    target_text(target.destination, f"{where}destination", path_like=True)
    return key, target


def _fields(target: RestoreTarget) -> Tuple[str, str, str, str]:
    return target.hostname, target.file_name, target.source_path, target.destination


def build(run: ProbeRun, restore_name: Optional[str], hostname: Optional[str],
          file_name: Optional[str], source_path: Optional[str], destination: Optional[str],
          wait: bool, relaunch_after: Optional[float],
          clock: Callable[[], float] = time.time) -> nagiosplugin.Check:
    key, target = restore_target(run, restore_name, hostname, file_name, source_path,
                                 destination, wait)
    job = JobTarget(target.hostname, target.hostname,
                    lambda client: start_restore(client, target.hostname, target.file_name,
                                                 target.source_path, target.destination,
                                                 target.params),
                    identity_of(*_fields(target)), params=target.params,
                    traits={"file_name": target.file_name, "source_path": target.source_path,
                            "destination": target.destination})
    return job_check(run, "restore", key, [job], wait, relaunch_after,
                     per_target_perfdata=False, clock=clock)


probe = Probe("IASO RESTORE", "check_iaso_restore", build, OPTIONS,
              help_text="Restore one file through IASO and follow the job to its outcome. "
                        "-w/-c apply to the job's duration in seconds.",
              thresholds="job duration in seconds")
main = probe.main

if __name__ == "__main__":
    main()
