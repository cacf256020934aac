"""What check_iaso_backup and check_iaso_restore share: launch, follow, judge, report.

Two ways to run. Stateful (the default): a run finds its target's round of jobs in its store
(the state file); with none in progress and the last launch older than the relaunch interval,
it launches and records them; otherwise it polls each unfinished job once and reports progress,
stalls, waits and silences, and, once they have ended, their outcome, until the next launch is
due. A new launch does not clear a failed outcome: the failed target stays failed until its new
job has ended. Every run is short whatever a job's length. ``--wait``: launch and follow to the
end within -t, for manual runs and short jobs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import nagiosplugin

from ..api.client import IasoClient
from ..deadline import Terminated
from ..errors import (
    ApiStatusError,
    ApiTimeout,
    OutOfTime,
    ProbeUsageError,
    ServiceError,
    TransportError,
)
from ..run.measurement import FAILURE, ApiResource, FailureContext, IasoSummary, failure_of
from ..run.probe_run import ProbeRun
from ..states import State
from .follower import TRANSIENT_STATUSES, JobFollower
from .ledger import Ledger, LedgerEntry
from .outcomes import Finding, OutcomeTable, Verdict, assess, carried_over, clock, named, stamp
from .round import JobRound, RoundStore
from .state_file import FileRounds
from .track import FINAL_CATEGORIES, NO_ANSWER, JobTrack

log = logging.getLogger("iaso.jobs")
NO_LISTING_STATUSES = (404, 405, 501)   # the API has no such call: nothing to ask, launch

Clock = Callable[[], float]


class JobTarget(NamedTuple):
    """One job to launch: its label in output, its host, how to start it, and what it is.

    ``identity`` names every field that makes the job what it is (host and level; host, file,
    path and destination): a change of any of them is a new target, launched anew.
    """

    label: str
    hostname: str
    launch: Callable[[IasoClient], Any]
    identity: str
    traits: Mapping[str, Optional[str]] = {}       # what the job listing may tell apart
    params: Mapping[str, Any] = {}                 # what the target adds to the API's calls


class TargetKey(NamedTuple):
    """What a check's state is kept under: a readable name and every identifying field.

    ``legacy`` is the name an earlier version kept the same state under, adopted once.
    """

    name: str
    identity: Tuple[str, ...] = ()
    legacy: Optional[str] = None


def unique_labels(labels: Sequence[str]) -> List[str]:
    """``labels``, a repeated one numbered (`` #2``, `` #3``): a target's label keys its state,
    its perfdata and the job the listing found for it."""
    seen: Dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


BackupMember = Tuple[str, str, str, Mapping[str, Any]]   # host, level, where set, params


def labelled_backups(members: Sequence[BackupMember]) -> List[Tuple[str, BackupMember]]:
    """Each backup once (a host in two sets alike, with -A: one backup serves both), with its
    label: the host, or host/level when the host has several, or with where it is set when
    that too is alike; numbered if still repeated (``unique_labels``)."""
    once: Dict[Tuple[str, str, str], BackupMember] = {}
    for member in members:
        host, level, _, params = member
        once.setdefault((host, level, json.dumps(params, sort_keys=True, default=str)), member)
    kept = list(once.values())
    hosts = Counter(host for host, *_ in kept)
    pairs = Counter((host, level) for host, level, *_ in kept)

    def label(host: str, level: str, where: str) -> str:
        if hosts[host] == 1:
            return host
        return f"{host}/{level}" if pairs[(host, level)] == 1 else f"{host}/{level} ({where})"

    labels = unique_labels([label(host, level, where) for host, level, where, _ in kept])
    return list(zip(labels, kept))


def identity_of(*fields: str) -> str:
    return json.dumps(list(fields), ensure_ascii=False)


def target_text(value: str, what: str, path_like: bool = False) -> str:
    """``value`` if it can name a job's target safely; a usage error naming ``what`` if not.

    Names travel in request bodies, state files and output: no control character, nothing
    absurdly long, and, except for the restore's paths, nothing that reads as a path ('/',
    '\\', '.' or '..').
    """
    if not value or not value.strip():
        raise ProbeUsageError(f"{what} is empty")
    if len(value) > 255:
        raise ProbeUsageError(f"{what} is longer than 255 characters")
    if any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in value):
        raise ProbeUsageError(f"{what} holds a control character")
    if not path_like and (value in (".", "..") or "/" in value or "\\" in value):
        raise ProbeUsageError(f"{what} {value!r} reads as a path")
    return value


class JobReport(NamedTuple):
    """The value of a job metric: the track and its verdict."""

    track: JobTrack
    verdict: Verdict

    @property
    def record_section(self) -> str:
        return "jobs"

    def record_entry(self, state: State) -> Dict[str, Any]:
        """This job in the results log (``iaso.jobs[]``)."""
        track = self.track
        return {"host": track.hostname, "label": track.label,
                "job_id": None if track.job_id is None else str(track.job_id),
                "status": track.status, "percent": track.percent,
                "duration_s": track.elapsed, "state": state.name,
                "reason": track.reason or track.error, "ended": track.finished,
                "summary": self.verdict.text}


class JobRun(ApiResource):
    """Launches, follows and measures the jobs of one target (a host, a set, a restore test)."""

    def __init__(self, run: ProbeRun, kind: str, key: TargetKey, targets: Sequence[JobTarget],
                 wait: bool, relaunch_after: float, per_target_perfdata: bool = True,
                 clock: Clock = time.time, store: Optional[RoundStore] = None) -> None:
        super().__init__(run)
        self.per_target_perfdata = per_target_perfdata
        self.owners: Dict[str, str] = {}
        self.kind = kind
        self.key = key
        self.targets = list(targets)
        self.wait = wait
        self.relaunch_after = relaunch_after
        self.clock = clock
        self.settings = run.environment.jobs
        profile = run.environment.profile
        self.table = OutcomeTable(self.settings.outcomes, profile.endpoint("job_status").states
                                  if "job_status" in profile.endpoints else None)
        self.store = store
        self.launched_now = False
        self.adopted = 0
        self.adopted_tracks: List[JobTrack] = []
        self.notes: List[str] = []
        self.steps: Dict[str, float] = {}
        self.tracks: List[JobTrack] = []
        self.previous: Dict[str, JobTrack] = {}
        self.failure: Optional[ServiceError] = None

    # --- acquisition ---------------------------------------------------------------------------

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        if self.wait:
            self._launch()
            self._poll(lambda follower: follower.follow(self.tracks))
        else:
            self._stateful()
        yield from self._metrics()
        if self.failure is not None:
            yield nagiosplugin.Metric(FAILURE, self.failure, context=FAILURE)

    def _round_store(self) -> RoundStore:
        if self.store is None:
            self.store = FileRounds(
                self.settings.state_dir, self.run.environment.name, self.kind, self.key.name,
                self.key.identity, self.run.deadline, self.clock, self.table.category,
                legacy_name=self.key.legacy, hostnames=[t.hostname for t in self.targets])
        return self.store

    def _stateful(self) -> None:
        store = self._round_store()
        with store as job_round:
            try:
                self._play(job_round, lambda: store.save(job_round))
            finally:
                with self.run.deadline.held():
                    job_round.settle()
                    store.save(job_round)

    def _play(self, job_round: JobRound, checkpoint: Callable[[], None]) -> None:
        where = f"{self.kind} {self.key.name}"
        self._take(job_round)
        unfinished = [t for t in self.tracks if not t.finished]
        age = self.clock() - min((t.launched_at for t in self.tracks), default=0.0)
        if not self.tracks or (not unfinished and (age >= self.relaunch_after
                                                   or self._targets_changed())):
            log.info("%s: launching %d %s(s)%s", where, len(self.targets), self.kind,
                     " (the last ones ended and are due again)" if self.tracks else "")
            job_round.start_new()
            self._take(job_round)
            self._launch(checkpoint)
            self._poll_now(self.adopted_tracks)
        elif unfinished or any(t.launch_again for t in self.tracks):
            failed = [t for t in self.tracks if t.launch_again]
            if failed:
                log.info("%s: launching again %d %s(s) whose launch got no usable answer",
                         where, len(failed), self.kind)
                labels = {t.label for t in failed}
                self._launch(checkpoint, [t for t in self.targets if t.label in labels],
                             replacing=failed)
            if unfinished:
                log.info("%s: polling %d job(s) in progress", where, len(unfinished))
            self._poll_now(unfinished + self.adopted_tracks)
        else:
            log.info("%s: every job has ended; the next launch is due in %.0f s", where,
                     self.relaunch_after - age)

    def _take(self, job_round: JobRound) -> None:
        self.tracks = job_round.tracks
        self.previous = {t.label: t for t in job_round.previous}

    def _targets_changed(self) -> bool:
        if any(t.target is None for t in self.tracks):   # kept by an earlier version
            return sorted(t.label for t in self.tracks) != sorted(t.label for t in self.targets)
        return sorted(str(t.target) for t in self.tracks) != \
            sorted(t.identity for t in self.targets)

    def _poll_now(self, tracks: Sequence[JobTrack]) -> None:
        """One status request each for jobs in progress and jobs just found in the listing
        (launched elsewhere, perhaps ended already: their outcome is told now)."""
        if tracks:
            self._poll(lambda follower: follower.poll_once(tracks))

    def _launch(self, checkpoint: Optional[Callable[[], None]] = None,
                targets: Optional[Sequence[JobTarget]] = None,
                replacing: Sequence[JobTrack] = ()) -> None:
        """Launch every target (or ``targets``, in place of their ``replacing`` tracks, kept
        until the login and the listing have answered: a run that fails before launching
        leaves them to be launched again). In stateful mode the round is saved first with each
        launch marked as not yet answered: a launch that could not be recorded is never made (a
        full disk would otherwise launch again at every run)."""
        client = self.run.client
        chosen = list(self.targets if targets is None else targets)
        self._timed("auth_time", client.login)
        found = self._ledger(chosen) if checkpoint is not None else {}
        started = time.monotonic()
        pending = []
        with self.run.deadline.held():       # the old tracks and their replacements, at once
            for track in replacing:
                self.tracks.remove(track)
            for target in chosen:
                entry = found.get(target.label)
                if entry is not None:
                    track = JobTrack(target.label, target.hostname, entry.job_id,
                                     min(entry.started_at, self.clock()),
                                     target=target.identity)
                    track.listed_at = self.clock()
                    log.info("%s of %s: following job %s, launched at %s by another run",
                             self.kind, target.label, entry.job_id, stamp(entry.started_at))
                    self.tracks.append(track)
                    self.adopted_tracks.append(track)
                    continue
                track = JobTrack(target.label, target.hostname, None, self.clock(),
                                 target=target.identity)
                track.not_started(f"{self.kind} launch interrupted before its answer was "
                                  "recorded; launched again next run", again=True)
                self.tracks.append(track)
                pending.append((target, track))
            self.adopted = len(chosen) - len(pending)
            if checkpoint is not None:
                checkpoint()
        deadline = self.run.deadline
        for target, track in pending:
            if not client.has_time():
                with deadline.held():
                    track.not_launched(f"{self.kind} not launched: no time left in the probe's "
                                       f"deadline (-t {deadline.timeout:g}) after "
                                       f"{deadline.elapsed():.1f} s; launched next run")
                continue
            try:
                job_id = target.launch(client)
            except OutOfTime as exc:
                with deadline.held():
                    track.not_launched(f"{self.kind} launch cut by the probe's deadline, whether "
                                       f"it started is unknown ({exc.message}): the job listing "
                                       "tells next run, or it is launched again", sent=True)
            except ServiceError as exc:
                again = isinstance(exc, TransportError) or (
                    isinstance(exc, ApiStatusError) and exc.status in TRANSIENT_STATUSES)
                with self.run.deadline.held():
                    track.not_started(f"{self.kind} not started: {exc.message}"
                                      + ("; launched again next run" if again else ""), again)
            else:
                with self.run.deadline.held():
                    track.started(job_id)
                    if checkpoint is not None:   # known at once to a crash and to other services
                        checkpoint()
        self.steps["launch_time"] = time.monotonic() - started
        self.launched_now = True

    def _ledger(self, targets: Sequence[JobTarget]) -> Dict[str, LedgerEntry]:
        """The job each target already has in this relaunch period, launched by a run on
        another poller (the profile's job listing; none without one)."""
        env = self.run.environment
        if "job_list" not in env.profile.endpoints:
            return {}
        known = {str(t.job_id) for t in self.tracks + list(self.previous.values())
                 if t.job_id is not None} | self._round_store().claimed()
        ledger = Ledger(self.run.client, env.credentials.username if env.credentials else None)
        now = self.clock()
        found = {}
        absent = ""
        for target in targets:
            try:
                entries = ledger.recent(self.kind, target.hostname, target.traits,
                                        now - self.relaunch_after, now, target.params,
                                        active=self._active)
            except ApiStatusError as exc:
                if exc.status not in NO_LISTING_STATUSES or "job_list" in env.profile.written:
                    exc.message = f"the job listing of {target.hostname} failed: {exc.message}"
                    exc.args = (exc.message,)
                    raise
                absent = absent or exc.message
                continue
            except ServiceError as exc:   # said as what it is: nothing launched without it
                exc.message = f"the job listing of {target.hostname} failed: {exc.message}"
                exc.args = (exc.message,)
                raise
            except OutOfTime as exc:      # the listings of the set outlast -t: nothing launched
                exc.message = (f"no time left for the job listing of {target.hostname} "
                               f"({len(targets)} targets to list before any launch): "
                               f"{exc.message}")
                exc.args = (exc.message,)
                raise
            fresh = [e for e in entries if str(e.job_id) not in known]
            if fresh:
                found[target.label] = fresh[0]
                known.add(str(fresh[0].job_id))     # one job is followed for one target
        if absent:
            self.notes.append(f"the API has no job listing ({absent}): a run on another poller "
                              "would launch again; say job_list: null in the profile if this "
                              "check runs on one poller only")
        return found

    def _active(self, status: Optional[str]) -> bool:
        return self.table.category(status) in ("running", "waiting")

    def _poll(self, action: Callable[[JobFollower], Any]) -> None:
        follower = JobFollower(self.run.client, self.table, self.run.deadline,
                               pool_size=self.settings.pool_size,
                               interval=self.settings.poll_interval,
                               max_interval=self.settings.max_poll_interval,
                               wall_clock=self.clock)
        self._timed("poll_time", lambda: action(follower))
        stop = follower.interrupted
        if isinstance(stop, Terminated):
            waiting = [t.label for t in self.tracks if t.problem_kind == NO_ANSWER]
            about = f" for {', '.join(waiting)}" if waiting else ""
            self.failure = ApiTimeout(f"no complete status answer{about}: {stop.message}",
                                      elapsed=stop.elapsed)

    def _timed(self, step: str, action: Callable[[], Any]) -> None:
        started = time.monotonic()
        try:
            action()
        finally:
            self.steps[step] = time.monotonic() - started

    def metrics_on_failure(self, exc: ServiceError) -> Iterator[nagiosplugin.Metric]:
        return self._step_metrics()

    # --- metrics -------------------------------------------------------------------------------

    def _step_metrics(self) -> Iterator[nagiosplugin.Metric]:
        for step, seconds in self.steps.items():
            yield nagiosplugin.Metric(step, round(seconds, 6), "s", min=0, context="step")

    def _metrics(self) -> Iterator[nagiosplugin.Metric]:
        """Aggregates first (output keeps the first perfdata when it must cut), then each job."""
        now = self.clock()
        counts = {"ok": 0, "warning": 0, "critical": 0, "unknown": 0, "running": 0}
        verdicts = [(track, self.verdict(track, now)) for track in self.tracks]
        for track, verdict in verdicts:
            in_progress = verdict.state is State.OK and not track.finished
            counts["running" if in_progress else verdict.state.name.lower()] += 1
        for outcome, count in counts.items():
            yield nagiosplugin.Metric(f"jobs_{outcome}", count, min=0, max=len(self.tracks),
                                      context="count")
        yield from self._step_metrics()
        labels = PerfLabels()
        single = not self.per_target_perfdata
        for track, verdict in verdicts:
            yield nagiosplugin.Metric(f"job {track.label}", JobReport(track, verdict),
                                      context="job")
            if track.job_id is None:
                continue
            if single and track.ended_at is not None and track.category in FINAL_CATEGORIES:
                yield nagiosplugin.Metric("total", round(track.ended_at - track.launched_at),
                                          "s", min=0, context="step")
            duration = labels.take("duration" if single else "dur", track.label)
            self.owners[duration] = track.label
            yield nagiosplugin.Metric(duration, round(track.duration(now)), "s", min=0,
                                      context="duration")
            if track.percent is not None:
                yield nagiosplugin.Metric(labels.take("percent" if single else "pct",
                                                      track.label),
                                          track.percent, "%", 0, 100, context="percent")

    def verdict(self, track: JobTrack, now: float) -> Verdict:
        """The job's state: its own, under --wait's deadline rules, with any failed predecessor."""
        finding = assess(track, self.table, self.settings, now)
        if self.wait and not track.finished:
            finding = self._at_deadline(track, finding)
        previous = self.previous.get(track.label)
        if previous is not None and not track.finished:
            before = assess(previous, self.table, self.settings, now)
            if before.state in (State.WARNING, State.CRITICAL):
                return carried_over(before, track, finding, self.kind)
        return named(track, finding)

    def _at_deadline(self, track: JobTrack, finding: Finding) -> Finding:
        """--wait ended before the job: unanswered is CRITICAL, still running is UNKNOWN."""
        timeout = self.run.options.timeout
        if track.problem_kind == NO_ANSWER:
            return Finding(State.CRITICAL, f"no complete status answer within -t {timeout:g}: "
                                           f"{track.error}", "no status answer")
        if finding.state is State.OK:
            status = track.status or "starting"
            cut = ("" if track.cut_pending is None else
                   f"; its last status request, pending {track.cut_pending:.1f} s, was cut there")
            return Finding(State.UNKNOWN, f"still {status} at the probe's deadline "
                                          f"(-t {timeout:g}); not cancelled{cut}",
                           f"still {status}")
        return finding


class PerfLabels:
    """Perfdata labels per target, snake_case and unique in their first 19 characters."""

    LIMIT = 19

    def __init__(self) -> None:
        self.taken: set = set()

    def take(self, kind: str, label: str) -> str:
        if kind in ("duration", "percent"):
            return kind
        name = f"{kind}_{re.sub(r'[^a-z0-9]+', '_', label.lower()).strip('_')}"
        if len(name) > self.LIMIT or name[: self.LIMIT] in self.taken:
            digest = hashlib.sha1(label.encode("utf-8")).hexdigest()[:4]
            name = f"{name[: self.LIMIT - 5]}_{digest}"
        self.taken.add(name[: self.LIMIT])
        return name


# --- evaluation --------------------------------------------------------------------------------


class JobContext(nagiosplugin.Context):
    """A job's state is its verdict (libiaso.jobs.outcomes)."""

    def __init__(self) -> None:
        super().__init__("job")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        report: JobReport = metric.value
        return nagiosplugin.Result(report.verdict.state.nagios, report.verdict.text, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> None:
        return None


def job_check(run: ProbeRun, kind: str, key: TargetKey, targets: Sequence[JobTarget],
              wait: bool, relaunch_after: Optional[float], per_target_perfdata: bool = True,
              clock: Clock = time.time) -> nagiosplugin.Check:
    """The whole check of a backup or restore probe; ``clock`` is the wall clock it reads."""
    settings = run.environment.jobs
    if relaunch_after is None:
        relaunch_after = {"backup": settings.backup_interval,
                          "restore": settings.restore_interval}[kind]
    resource = JobRun(run, kind, key, targets, wait, relaunch_after, per_target_perfdata,
                      clock)
    return nagiosplugin.Check(resource, *_contexts(run, resource),
                              JobSummary(run.environment.name, kind, resource))


def _contexts(run: ProbeRun, resource: JobRun) -> List[nagiosplugin.Context]:
    options = run.options

    def ran(metric: nagiosplugin.Metric, context: nagiosplugin.Context) -> str:
        return f"{resource.owners.get(metric.name, metric.name)} ran {metric.value:.0f} s"

    return [
        JobContext(),
        nagiosplugin.ScalarContext("duration", options.warning, options.critical,
                                   fmt_metric=ran),
        nagiosplugin.ScalarContext("percent"),
        nagiosplugin.ScalarContext("step"),
        nagiosplugin.ScalarContext("count"),
        FailureContext(),
    ]


# --- presentation ------------------------------------------------------------------------------


class JobSummary(IasoSummary):
    """``prod: 1 of 3 backups failed: vm-b (Failed)`` and one long line per job.

    "failed" is said of jobs that ended so (or never started); a job still in progress that is
    CRITICAL (stalled, silent, unreadable, or its predecessor failed) is "critical".
    """

    WORDS = {State.WARNING: "need attention", State.CRITICAL: "failed",
             State.UNKNOWN: "in an unknown state"}

    def __init__(self, environment: str, kind: str, resource: JobRun) -> None:
        super().__init__(environment)
        self.kind = kind
        self.resource = resource

    def _jobs(self, results: nagiosplugin.Results) -> List[nagiosplugin.Result]:
        found = [r for r in results if r.metric is not None and r.metric.context == "job"]
        return sorted(found, key=lambda r: -int(r.state))

    def _plural(self, count: int) -> str:
        return f"{self.kind}{'s' if count != 1 else ''}"

    def ok_text(self, results: nagiosplugin.Results) -> str:
        jobs = [r.metric.value.track for r in self._jobs(results)]
        total = len(jobs)
        now = self.resource.clock()
        if self.resource.launched_now and not self.resource.wait:
            adopted = self.resource.adopted
            ids = ", ".join(f"{t.label} (job {t.job_id})" for t in jobs)
            if adopted:
                return (f"following {total} {self._plural(total)} ({adopted} launched by another "
                        f"run): {ids}")
            return f"launched {total} {self._plural(total)}: {ids}"
        running = [t for t in jobs if not t.finished]
        if not running:
            last = max((t.ended_at or 0 for t in jobs), default=0)
            ago = f", the last {clock(now - last)} ago" if last else ""
            return f"{total} of {total} {self._plural(total)} completed{ago}"
        progress = ", ".join(self._progress(t, now) for t in running)
        done = total - len(running)
        prefix = f"{done} of {total} {self._plural(total)} completed, " if done else ""
        return f"{prefix}{len(running)} in progress: {progress}"

    def _progress(self, track: JobTrack, now: float) -> str:
        if track.problem_kind == NO_ANSWER:
            return f"{track.label} no status answer for {clock(now - track.silent_since)}"
        if track.percent is None or self.resource.table.category(track.status) != "running":
            return f"{track.label} {track.status or 'launched'}"
        return f"{track.label} {track.percent:g} %"

    def problem(self, results: nagiosplugin.Results) -> str:
        if failure_of(results) is not None:
            return super().problem(results)
        jobs = self._jobs(results)
        worst = State.of(results.most_significant_state)
        bad = [r for r in jobs if State.of(r.state) is worst]
        if not bad:
            return super().problem(results)
        names = ", ".join(r.metric.value.verdict.short for r in bad)
        word = self.WORDS.get(worst, worst.name.lower())
        if worst is State.CRITICAL and not all(r.metric.value.track.finished for r in bad):
            word = "critical"   # not (yet) a failed job: stalled, silent, unreadable...
        return f"{self.environment}: {len(bad)} of {len(jobs)} {self._plural(len(jobs))} " \
               f"{word}: {names}"

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        return [f"{str(r.state).upper()} {r.metric.value.verdict.text}"
                for r in self._jobs(results)] + self.resource.notes
