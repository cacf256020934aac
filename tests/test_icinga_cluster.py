"""Job checks on a distributed Icinga 2: a master and an HA zone of two satellite endpoints
(tests/icinga_cluster.py), the shipped etc/icinga2 objects synced from the master's zones.d to
the zone, each satellite with its own configuration file and its own state directory (no shared
disk), the simulator as the API.

Icinga 2 gives each check of an HA zone to one of its endpoints (2.13: by a hash of the
service's full name, lib/remote/apilistener-authority.cpp) and moves it to the other endpoint
when its own goes away. The names below put backup set-a and the restore test on one satellite
and backup set-b on the other, so both run job checks. The story runs three due periods: in
period 2 the satellite that has just launched set-a's (failing) job and the restore's is
stopped, the other takes both checks over, and the first comes back; in period 3 it is stopped
again just after its launches. set-a and the restore are thus checked by both satellites, each
with its own state directory; set-b, never moved, is the single-poller baseline. What it must
show: one launch per due period and target, whichever satellite runs; a job launched on one
satellite followed to its end on the other; a failed job CRITICAL on whichever satellite runs
next, until a new job has ended; every result seen on the master, with the endpoint that ran it.

The story runs once (a module fixture, about 100 s); each test reads one property from what it
recorded: the master's results (REST API, check_source), the simulator's launches, and each
satellite's own results log and application log.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml
from conftest import PASSWORD, USERNAME, play, require_core
from icinga_cluster import MASTER, SATELLITES, Cluster
from icinga_core import BINARY

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "etc" / "icinga2"
HOST = "iaso-lab"
PERIOD = 30          # --relaunch-after (the sets' iaso_relaunch_after), seconds
CHECK_EVERY = 2      # the job services' check and retry intervals, seconds
JOB = {"job_speed": 1, "job_duration": 20}
REASON = "media agent library full"
FAILING = dict(JOB, hosts={"vm-a": {"outcome": "failed", "at_percent": 80, "reason": REASON}})
SET_A, RESTORE = "IASO backup set-a", "IASO restore hosts-file"   # moved by the failovers
BASELINE = "IASO backup set-b"      # never moves: the single-poller baseline
SERVICES = {  # service → (kind, the host its jobs are for)
    SET_A: ("backup", "vm-a"),
    BASELINE: ("backup", "vm-b"),
    RESTORE: ("restore", "vm-r"),
}
JOB_FILTER = 'match("IASO backup *", service.name) || match("IASO restore *", service.name)'
LAUNCH_CALL = re.compile(r" POST \S+/(backups|restores) -> 2\d\d ")
# One check interval, plus the time Icinga 2 takes to give a stopped endpoint's checks to the
# other (its authority update runs every 10 s): the latest a due launch can come.
LATEST = CHECK_EVERY + 12
FAILOVER = 10 + CHECK_EVERY + 3     # authority update, the next check, a stop's own time

require_core(BINARY, "icinga2-bin icinga2-common")
pytestmark = pytest.mark.integration


def hosts_file() -> str:
    """The test's host, modelled on iaso-hosts.conf.sample: each set and test with its own
    relaunch interval, through the set's dictionary as docs/icinga2.md shows."""
    relaunch = f"{{ iaso_relaunch_after = {PERIOD} }}"
    return (f'object Host "{HOST}" {{\n  import "iaso-environment"\n'
            '  display_name = "IASO lab"\n  vars.iaso_env = "lab"\n'
            f'  vars.iaso_backup_sets = {{ "set-a" = {relaunch}, "set-b" = {relaunch} }}\n'
            f'  vars.iaso_restores = {{ "hosts-file" = {relaunch} }}\n}}\n')


def probe_config(home: Path, url: str) -> Path:
    """One satellite's iaso.yaml (/etc/iaso-probes/iaso.yaml on its own machine): the same
    environment and profile, whose job listing lets a check find a job the other satellite
    launched, and its own state directory and logs."""
    home.mkdir(parents=True)
    secret = home / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    path = home / "iaso.yaml"
    path.write_text(yaml.safe_dump({
        "logging": {"results": str(home / "results.jsonl"),
                    "application": str(home / "iaso-probes.log"), "level": "info"},
        "environments": {"lab": {
            "base_url": url, "proxy": "none",
            "credentials": {"username": USERNAME, "password_file": str(secret)},
            "profile": {"version": 2, "base": "iaso"},   # with the job listing (job_list)
            "jobs": {"state_dir": str(home / "state")},
            "backup_sets": {"set-a": [{"hostname": "vm-a", "level": "incremental"}],
                            "set-b": [{"hostname": "vm-b", "level": "incremental"}]},
            "restores": {"hosts-file": {"hostname": "vm-r", "file_name": "hosts",
                                        "source_path": "/etc",
                                        "destination": "/var/tmp/iaso-restore-test"}},
        }}}))
    return path


@dataclass
class Result:
    """One check result of a job service, as the master showed it."""

    service: str
    source: str
    state: int
    output: str
    checked_at: float


@dataclass
class Story:
    """What happened: the master's results, the simulator's launches, each satellite's records,
    and what the test did when."""

    cluster: Cluster
    sim: Any
    homes: Dict[str, Path]
    results: List[Result] = field(default_factory=list)
    marks: List[Tuple[float, str]] = field(default_factory=list)
    facts: Dict[str, Any] = field(default_factory=dict)
    began: float = field(default_factory=time.time)

    def mark(self, what: str) -> float:
        now = time.time()
        self.marks.append((now, what))
        return now

    def sample(self) -> None:
        keys = {(r.service, r.checked_at) for r in self.results}
        for name, attrs in self.cluster.services(JOB_FILTER).items():
            result = attrs.get("last_check_result") or {}
            service = name.split("!", 1)[1]
            if result and (service, attrs["last_check"]) not in keys:
                self.results.append(Result(service, result.get("check_source", ""),
                                           int(attrs["state"]), result.get("output", ""),
                                           float(attrs["last_check"])))

    def watch(self, what: str, until: Callable[[], Any], timeout: float) -> Any:
        """Sample the master until ``until`` gives something, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.sample()
            found = until()
            if found:
                self.mark(what)
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"never: {what} (within {timeout:g} s)\n{self.describe()}")
            time.sleep(0.4)

    def last(self, service: str, source: Optional[str] = None, after: float = 0
             ) -> Optional[Result]:
        found = [r for r in self.results if r.service == service and r.checked_at > after
                 and (source is None or r.source == source)]
        return found[-1] if found else None

    def launches(self, service: str) -> List[Tuple[int, float]]:
        """The service's jobs in the simulator's book, oldest first: (job ID, epoch launched)."""
        kind, host = SERVICES[service]
        offset = time.time() - time.monotonic()
        found = self.sim.jobs.recent(kind, host, self.sim.scenario)
        return sorted((job.job_id, job.created + offset) for job, _, _ in found)

    def records(self, satellite: str) -> List[Dict[str, Any]]:
        path = self.homes[satellite] / "results.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def naming(self, job_id: int) -> Dict[str, List[str]]:
        """Per satellite, the summaries of its runs that reported job ``job_id``."""
        return {name: [r["iaso"]["summary"] for r in self.records(name)
                       if any(str(job.get("job_id")) == str(job_id)
                              for job in r["iaso"].get("jobs", []))]
                for name in SATELLITES}

    def launched(self, satellite: str) -> List[int]:
        """The jobs ``satellite`` launched itself, from its application log: the runs (one
        process each) that sent a backup or restore call, and the jobs their last line names."""
        path = self.homes[satellite] / "iaso-probes.log"
        text = path.read_text() if path.exists() else ""
        calling: Dict[str, bool] = {}
        found: List[int] = []
        for line in text.splitlines():
            pid = line.split(" ", 3)[2] if line.count(" ") >= 3 else ""
            if LAUNCH_CALL.search(line):
                calling[pid] = True
            elif " finished: " in line and calling.pop(pid, False):
                found += [int(n) for n in re.findall(r"\bjob (\d+)", line.split(" | ")[0])]
        return found

    def launcher(self, job_id: int) -> Optional[str]:
        """The one satellite that launched job ``job_id`` (None: none, or both)."""
        found = [name for name in SATELLITES if job_id in self.launched(name)]
        return found[0] if len(found) == 1 else None

    def describe(self) -> str:
        """The story so far, one line per event, times from the start."""
        lines = [(at, f"TEST {what}") for at, what in self.marks]
        lines += [(r.checked_at, f"{r.source:12} {r.service:24} {r.state} {r.output[:110]}")
                  for r in self.results]
        lines += [(at, f"SIM  launch {job_id} for {service}") for service in SERVICES
                  for job_id, at in self.launches(service)]
        return "\n".join(f"{at - self.began:7.1f} {text}" for at, text in sorted(lines))


def other(satellite: str) -> str:
    return next(name for name in SATELLITES if name != satellite)


def nth_launch(story: Story, service: str, number: int) -> Optional[Tuple[int, float]]:
    launches = story.launches(service)
    return launches[number - 1] if len(launches) >= number else None


def completed(story: Story, service: str, after: float, source: Optional[str] = None) -> bool:
    """The master's last result of ``service`` (from ``source``) is OK and says its job, checked
    after ``after``, completed."""
    last = story.last(service, source, after)
    return bool(last and last.state == 0 and re.search(r"lab: 1 of 1 \w+ completed",
                                                       last.output))


def critical(story: Story, service: str, source: str, word: str) -> bool:
    last = story.last(service, source)
    return bool(last and last.state == 2 and word in last.output)


def owners(story: Story) -> Optional[Dict[str, str]]:
    """Which satellite launched each target's first job, once all are known."""
    found: Dict[str, str] = {}
    for service in SERVICES:
        launcher = story.launcher(story.launches(service)[0][0])
        if launcher is None:
            return None
        found[service] = launcher
    return found


def all_completed(story: Story, period: int) -> bool:
    """Every target's job of ``period`` launched, and the master's last result says it ended
    well."""
    launches = [nth_launch(story, s, period) for s in SERVICES]
    return all(launch and completed(story, s, launch[1])
               for s, launch in zip(SERVICES, launches))


def tell(story: Story) -> None:
    """The story: three due periods, two failovers (module docstring)."""
    cluster = story.cluster
    changed = cluster.modify(JOB_FILTER, {"check_interval": CHECK_EVERY,
                                          "retry_interval": CHECK_EVERY})
    assert changed == len(SERVICES), changed
    story.watch("the intervals reached both satellites", lambda: all(
        attrs["check_interval"] == CHECK_EVERY
        for name in SATELLITES for attrs in cluster.services(JOB_FILTER, name).values()), 20)
    kicked = [0.0]

    def launched_once() -> bool:
        if all(story.launches(service) for service in SERVICES):
            return True
        if time.monotonic() - kicked[0] > 3:   # the first checks now, not within the minute
            for name in SATELLITES:
                cluster.reschedule(JOB_FILTER, name)
            kicked[0] = time.monotonic()
        return False

    story.watch("period 1: every target launched", launched_once, 40)
    found = story.watch("period 1: who launched what", partial(owners, story), 15)
    moving = story.facts["moving"] = found[SET_A]
    story.facts["staying"] = other(moving)
    assert found == {SET_A: moving, RESTORE: moving, BASELINE: other(moving)}, \
        f"the story needs set-a and the restore on one satellite, set-b on the other: {found}"
    play(story.sim, FAILING)            # set-a's next job fails; the running one succeeds
    story.watch("period 1: every job completed, OK on the master",
                partial(all_completed, story, 1), JOB["job_duration"] + 20)
    fail_over(story, 2)
    story.watch(f"period 2: set-a CRITICAL from {other(moving)}",
                partial(critical, story, SET_A, other(moving), "Failed"), JOB["job_duration"] + 15)
    play(story.sim, JOB)
    cluster.node(moving).start()
    cluster.wait_connected(SATELLITES)
    story.mark(f"{moving} back in the zone")
    fail_over(story, 3)
    story.watch("period 3: every job completed, OK on the master",
                partial(all_completed, story, 3), JOB["job_duration"] + 20)
    for service in (SET_A, RESTORE):
        story.watch(f"period 3: {service} completed on {other(moving)}",
                    partial(completed_on, story, service, 3, other(moving)), 10)


def fail_over(story: Story, period: int) -> None:
    """Once set-a and the restore have their job of ``period``, launched by the satellite that
    runs them, stop that satellite; the other must take both checks over."""
    moving, staying = story.facts["moving"], story.facts["staying"]
    story.watch(f"period {period}: set-a and the restore launched", lambda: all(
        nth_launch(story, s, period) for s in (SET_A, RESTORE)), PERIOD + LATEST)
    for service, suffix in ((SET_A, "a"), (RESTORE, "r")):
        job_id = story.facts[f"J{period}{suffix}"] = story.launches(service)[period - 1][0]
        story.watch(f"period {period}: {moving} launched job {job_id}",
                    partial(launched_by, story, job_id, moving), 15)
    stopped = story.mark(f"stop {moving}")
    story.facts.setdefault("stop_s", []).append(story.cluster.node(moving).stop())
    taken = story.watch(f"period {period}: set-a checked by {staying}",
                        partial(story.last, SET_A, staying, stopped), 30)
    story.facts.setdefault("failover_s", []).append(taken.checked_at - stopped)
    story.watch(f"period {period}: the restore checked by {staying}",
                partial(story.last, RESTORE, staying, stopped), 30)
    again = {s: story.launches(s)[period:] for s in (SET_A, RESTORE)}
    assert not any(again.values()), \
        f"{staying} launched again on taking over: {again}\n{story.describe()}"


def launched_by(story: Story, job_id: int, satellite: str) -> bool:
    return story.launcher(job_id) == satellite


def completed_on(story: Story, service: str, period: int, satellite: str) -> bool:
    return completed(story, service, story.launches(service)[period - 1][1], satellite)


@pytest.fixture(scope="module")
def story(simulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    began = time.monotonic()
    play(simulator, JOB)
    simulator.reset()
    work = tmp_path_factory.mktemp("icinga-cluster")
    homes = {name: work / name / "iaso-probes" for name in SATELLITES}
    probes = Path(sys.executable).parent
    constants = {name: {"IasoProbesDir": str(probes),
                        "IasoProbesConfig": str(probe_config(homes[name], simulator.url))}
                 for name in SATELLITES}
    constants[MASTER] = {"IasoProbesDir": str(probes),   # compiled there, run on the zone
                         "IasoProbesConfig": "/etc/iaso-probes/iaso.yaml"}
    files = {name: (SHIPPED / name).read_text()
             for name in ("iaso-commands.conf", "iaso-services.conf")}
    files["iaso-hosts.conf"] = hosts_file()
    cluster = Cluster(work, files, constants)
    validated = cluster.validate()
    assert validated.returncode == 0, validated.stdout[-3000:]
    assert "Instantiated 1 Host." in validated.stdout, validated.stdout[-3000:]
    assert "Instantiated 7 Services." in validated.stdout, validated.stdout[-3000:]
    told = Story(cluster, simulator, homes)
    try:
        cluster.start()
        told.mark("cluster up: both satellites connected to the master")
        told.facts["startup_s"] = time.monotonic() - began
        tell(told)
        told.sample()
        yield told
    finally:
        stops = cluster.stop()
        told.facts["stop_s"] = told.facts.get("stop_s", []) + list(stops.values())
        told.facts["total_s"] = time.monotonic() - began
        print(f"\n{told.describe()}\nfacts: {told.facts}")
        play(simulator, {})


def test_ok_job_checks_run_on_both_satellites_each_with_its_own_state(story: Story) -> None:
    staying = story.facts["staying"]
    first_stop = next(at for at, what in story.marks if what.startswith("stop "))
    before = {r.source for r in story.results if r.checked_at < first_stop}
    assert before == set(SATELLITES), story.describe()
    for service in SERVICES:
        sources = {r.source for r in story.results if r.service == service}
        expected = {staying} if service == BASELINE else set(SATELLITES)
        assert sources == expected, (service, sources, story.describe())
    for name in SATELLITES:
        probes = {r["iaso"]["probe"] for r in story.records(name)}
        assert {"check_iaso_backup", "check_iaso_restore"} <= probes, (name, probes)
        kept = sorted(p.name for p in (story.homes[name] / "state" / "lab").iterdir())
        assert "backup-set-set-a.json" in kept and "restore-hosts-file.json" in kept, \
            (name, kept)
        assert ("backup-set-set-b.json" in kept) is (name == staying), (name, kept)
    assert not [r for r in story.results if r.source == MASTER], story.describe()


def test_ok_exactly_one_launch_per_due_period_per_target(story: Story) -> None:
    for service in SERVICES:
        launches = story.launches(service)
        assert len(launches) == 3, (service, launches, story.describe())
        for (_, before), (_, after) in zip(launches, launches[1:]):
            assert PERIOD - 1.5 <= after - before <= PERIOD + LATEST, \
                (service, after - before, story.describe())
        for job_id, _ in launches:
            assert story.launcher(job_id), \
                (service, job_id, {name: story.launched(name) for name in SATELLITES})
    calls = sum(len(story.launched(name)) for name in SATELLITES)
    assert calls == story.sim.counters["backup"] + story.sim.counters["restore"] \
        == 3 * len(SERVICES), calls


def test_ok_single_poller_target_launches_and_follows_on_its_one_satellite(story: Story) -> None:
    staying = story.facts["staying"]
    for job_id, _ in story.launches(BASELINE):
        assert story.launcher(job_id) == staying
        said = story.naming(job_id)
        assert said[other(staying)] == [] and said[staying], said
        assert re.match(r"lab: launched 1 backup: vm-b", said[staying][0]), said
        assert re.match(r"lab: 1 of 1 backups? completed", said[staying][-1]), said


def test_crit_failed_job_critical_on_the_satellite_that_runs_next(story: Story) -> None:
    j2a, staying = story.facts["J2a"], story.facts["staying"]
    assert story.launcher(j2a) == story.facts["moving"]
    failed = [r for r in story.results if r.service == SET_A and r.state == 2]
    assert failed and failed[0].source == staying, story.describe()
    assert re.match(r"^IASO BACKUP CRITICAL - lab: 1 of 1 backups? failed: vm-a \(Failed",
                    failed[0].output), failed[0].output
    assert REASON in failed[0].output, failed[0].output
    j3a, launched_at = story.launches(SET_A)[2]
    ended = [r for r in story.results if r.service == SET_A and r.checked_at > launched_at
             and "completed" in r.output]
    assert ended and ended[0].state == 0 and ended[0].source == staying, story.describe()
    while_new = [r for r in story.results if r.service == SET_A
                 and launched_at < r.checked_at < ended[0].checked_at]
    assert staying in {r.source for r in while_new}, story.describe()
    assert all(r.state == 2 and f"new backup job {j3a}" in r.output for r in while_new), \
        story.describe()


def test_ok_failover_follows_the_job_to_its_end_without_launching(story: Story) -> None:
    moving, staying = story.facts["moving"], story.facts["staying"]
    for service, key in ((SET_A, "J2a"), (RESTORE, "J2r")):
        kind, host = SERVICES[service]
        job_id = story.facts[key]
        took_over = story.naming(job_id)[staying]
        assert took_over and took_over[0].startswith(
            f"lab: following 1 {kind} (1 launched by another run): {host} (job {job_id})"), \
            (service, took_over)
    for key in ("J2a", "J3a", "J3r"):
        job_id = story.facts[key]
        assert story.launcher(job_id) == moving, (key, story.launched(moving))
        followed = story.naming(job_id)[staying]
        assert followed and re.search(r"lab: 1 of 1 \w+ (completed|failed)", followed[-1]), \
            (key, followed)
    assert all(seconds < FAILOVER for seconds in story.facts["failover_s"]), story.facts


def test_ok_every_run_ok_or_critical_for_a_failed_job_never_unknown(story: Story) -> None:
    """Each satellite's own record of every run: set-a is CRITICAL only for its failed job
    (and while its successor runs); every other run of every target is OK."""
    for name in SATELLITES:
        for record in story.records(name):
            iaso = record["iaso"]
            if iaso["probe"] not in ("check_iaso_backup", "check_iaso_restore"):
                continue
            allowed = {"OK", "CRITICAL"} if iaso.get("targets") == ["vm-a"] else {"OK"}
            assert iaso["state"]["name"] in allowed, (name, record["@timestamp"], iaso["summary"])
