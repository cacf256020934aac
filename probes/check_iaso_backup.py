"""check_iaso_backup: do backups through IASO really succeed, end to end?

Launch a backup of one host, of a named set of hosts from the configuration, or of every
configured set, then follow the jobs to their outcome: statefully across short runs (the
default) or in one run with --wait. See docs/probes/check_iaso_backup.md.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Callable, List, Optional, Tuple

import click
import nagiosplugin

from libiaso.config.profile import ad_hoc_refusal
from libiaso.errors import ProbeUsageError
from libiaso.jobs.calls import start_backup
from libiaso.jobs.check import (
    BackupMember,
    JobTarget,
    TargetKey,
    identity_of,
    job_check,
    labelled_backups,
    target_text,
)
from libiaso.run.probe_run import ProbeRun
from libiaso.run.runner import Probe

OPTIONS = [
    click.option("-H", "--hostname", metavar="HOST", help="Back up this one host."),
    click.option("-l", "--level", default="incremental", show_default=True,
                 help="Backup level for -H (full, incremental, synthetic_full...)."),
    click.option("-S", "--set", "set_name", metavar="NAME",
                 help="Back up the hosts of this backup set (backup_sets in the configuration)."),
    click.option("-A", "--all", "all_sets", is_flag=True,
                 help="Back up every host of every configured backup set."),
    click.option("--wait", is_flag=True,
                 help="Launch and follow to the end within -t, instead of across runs."),
    click.option("--relaunch-after", type=click.FloatRange(min=0), metavar="SECONDS",
                 help="Launch anew once the last backups ended and are older than this "
                      "(default: jobs.backup_interval, one day)."),
]

# --- targets -----------------------------------------------------------------------------------


def targets(run: ProbeRun, hostname: Optional[str], level: str, set_name: Optional[str],
            all_sets: bool, wait: bool = False) -> Tuple[TargetKey, List[JobTarget]]:
    """What the state is kept under, and the backups to launch."""
    if sum((bool(hostname), bool(set_name), all_sets)) != 1:
        raise ProbeUsageError("choose exactly one of -H HOST, -S SET and -A")
    env = run.environment
    members: List[BackupMember]
    if hostname:
        refused = ad_hoc_refusal(env.profile, "backup", listing=not wait)
        if refused:
            raise ProbeUsageError(f"{refused}, which only configured backup sets carry "
                                  "(params:): use -S or -A")
        members = [(hostname, level, "-H/-l", {})]
        key = TargetKey(f"host-{hostname}-{level}", (hostname, level),
                        legacy=f"host-{hostname}")
    elif set_name:
        if set_name not in env.backup_sets:
            raise ProbeUsageError(f"unknown backup set {set_name!r}; configured: "
                                  f"{', '.join(env.backup_sets) or 'none'}")
        members = [(t.hostname, t.level, f"backup set {set_name}", t.params)
                   for t in env.backup_sets[set_name]]
        key = TargetKey(f"set-{set_name}")
    else:
        if not env.backup_sets:
            raise ProbeUsageError("-A given but no backup_sets are configured")
        members = [(t.hostname, t.level, f"backup set {name}", t.params)
                   for name, hosts in env.backup_sets.items() for t in hosts]
        key = TargetKey("all")
    for host, lvl, where, _ in members:
        target_text(host, f"{where}: hostname")
        target_text(lvl, f"{where}: level of {host}")
    return key, [JobTarget(name, host,
                           partial(start_backup, hostname=host, level=lvl, params=params),
                           identity_of(host, lvl), traits={"level": lvl}, params=params)
                 for name, (host, lvl, _, params) in labelled_backups(members)]


def build(run: ProbeRun, hostname: Optional[str], level: str, set_name: Optional[str],
          all_sets: bool, wait: bool, relaunch_after: Optional[float],
          clock: Callable[[], float] = time.time) -> nagiosplugin.Check:
    key, jobs = targets(run, hostname, level, set_name, all_sets, wait)
    return job_check(run, "backup", key, jobs, wait, relaunch_after, clock=clock)


probe = Probe("IASO BACKUP", "check_iaso_backup", build, OPTIONS,
              help_text="Launch IASO backups and follow them to their outcome. -w/-c apply to "
                        "each job's duration in seconds.",
              thresholds="job duration in seconds")
main = probe.main

if __name__ == "__main__":
    main()
