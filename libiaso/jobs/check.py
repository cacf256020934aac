"""What check_iaso_backup and check_iaso_restore share: launch, follow, judge, report.

Two ways to run. Stateful (the default): a run finds the jobs of its target in its state file;
with none in progress and the last launch older than the relaunch interval, it launches and
records them; otherwise it polls each unfinished job once and reports progress, stalls and
waits, and, once they have ended, their outcome, until the next launch is due. Every run is
short whatever a job's length. ``--wait``: launch and follow to the end within -t, for manual
runs and short jobs.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence

import nagiosplugin

from ..api.client import IasoClient
from ..errors import ServiceError
from ..run.measurement import ApiResource, FailureContext, IasoSummary, failure_of
from ..run.probe_run import ProbeRun
from ..states import State
from .follower import JobFollower
from .outcomes import OutcomeTable, Verdict, clock, judge
from .state_file import StateFile, StateFileError, state_path
from .track import JobTrack

log = logging.getLogger("iaso.jobs")


class JobTarget(NamedTuple):
    """One job to launch: its label in output, its host, and how to start it."""

    label: str
    hostname: str
    launch: Callable[[IasoClient], Any]


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

    def __init__(self, run: ProbeRun, kind: str, target_key: str, targets: Sequence[JobTarget],
                 wait: bool, relaunch_after: float, per_target_perfdata: bool = True) -> None:
        super().__init__(run)
        self.per_target_perfdata = per_target_perfdata
        self.owners: Dict[str, str] = {}
        self.kind = kind
        self.target_key = target_key
        self.targets = list(targets)
        self.wait = wait
        self.relaunch_after = relaunch_after
        self.settings = run.environment.jobs
        self.table = OutcomeTable(self.settings.outcomes)
        self.launched_now = False
        self.steps: Dict[str, float] = {}
        self.tracks: List[JobTrack] = []

    # --- acquisition ---------------------------------------------------------------------------

    def measure(self) -> Iterator[nagiosplugin.Metric]:
        if self.wait:
            self._launch()
            self._timed("poll_time", lambda: self._follower().follow(self.tracks))
        else:
            self._stateful()
        yield from self._metrics()

    def _stateful(self) -> None:
        path = state_path(self.settings.state_dir, self.run.environment.name, self.kind,
                          self.target_key)
        with StateFile(path, self.run.deadline) as state:
            self.tracks = _tracks_from(state.read(), path)
            unfinished = [t for t in self.tracks if not t.finished]
            age = time.time() - min((t.launched_at for t in self.tracks), default=0.0)
            targets_changed = sorted(t.label for t in self.tracks) != \
                sorted(t.label for t in self.targets)
            try:
                if not self.tracks or (not unfinished and (age >= self.relaunch_after
                                                           or targets_changed)):
                    log.info("%s: launching %d %s(s)%s", path, len(self.targets), self.kind,
                             " (the last ones ended and are due again)" if self.tracks else "")
                    self.tracks = []
                    self._launch()
                elif unfinished:
                    log.info("%s: polling %d job(s) in progress", path, len(unfinished))
                    self._timed("poll_time", lambda: self._follower().poll_once(self.tracks))
                else:
                    log.info("%s: every job has ended; the next launch is due in %.0f s", path,
                             self.relaunch_after - age)
            finally:
                state.write({"kind": self.kind, "target": self.target_key,
                             "tracks": [t.to_dict() for t in self.tracks]})

    def _launch(self) -> None:
        client = self.run.client
        self._timed("auth_time", client.login)
        started = time.monotonic()
        for target in self.targets:
            launched_at = time.time()
            try:
                job_id = target.launch(client)
            except ServiceError as exc:
                track = JobTrack(target.label, target.hostname, None, launched_at)
                track.fail(f"{self.kind} not started: {exc.message}", final=True)
            else:
                track = JobTrack(target.label, target.hostname, job_id, launched_at)
            self.tracks.append(track)
        self.steps["launch_time"] = time.monotonic() - started
        self.launched_now = True

    def _follower(self) -> JobFollower:
        return JobFollower(self.run.client, self.table, self.run.deadline,
                           pool_size=self.settings.pool_size,
                           interval=self.settings.poll_interval,
                           max_interval=self.settings.max_poll_interval)

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
        yield from self._step_metrics()
        now = time.time()
        counts = {"ok": 0, "warning": 0, "critical": 0, "unknown": 0, "running": 0}
        labels = PerfLabels()
        single = not self.per_target_perfdata
        for track in self.tracks:
            verdict = self._verdict(track, now)
            category = self.table.category(track.status)
            in_progress = verdict.state is State.OK and not track.finished
            counts["running" if in_progress else
                   verdict.state.name.lower()] += 1
            yield nagiosplugin.Metric(f"job {track.label}", JobReport(track, verdict),
                                      context="job")
            if track.job_id is None:
                continue
            duration = labels.take("duration" if single else "dur", track.label)
            self.owners[duration] = track.label
            yield nagiosplugin.Metric(duration, round(track.duration(now)), "s", min=0,
                                      context="duration")
            if track.percent is not None:
                yield nagiosplugin.Metric(labels.take("percent" if single else "pct",
                                                      track.label),
                                          track.percent, "%", 0, 100, context="percent")
            if single and track.ended_at is not None and category in ("ok", "warning", "critical"):
                yield nagiosplugin.Metric("total", round(track.ended_at - track.launched_at),
                                          "s", min=0, context="step")
        for outcome, count in counts.items():
            yield nagiosplugin.Metric(f"jobs_{outcome}", count, min=0, max=len(self.tracks),
                                      context="count")

    def _verdict(self, track: JobTrack, now: float) -> Verdict:
        verdict = judge(track, self.table, self.settings, now)
        if self.wait and not track.finished and verdict.state is State.OK:
            status = track.status or "starting"
            return Verdict(State.UNKNOWN,
                           f"{track.label} (job {track.job_id}): still {status} at the probe's "
                           f"deadline (-t {self.run.options.timeout:g}); not cancelled",
                           f"{track.label} (still {status})")
        return verdict


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


def _tracks_from(data: Optional[dict], path: str) -> List[JobTrack]:
    if data is None:
        return []
    try:
        return [JobTrack.from_dict(item) for item in data.get("tracks", [])]
    except (ValueError, TypeError):
        raise StateFileError(f"state file {path} is corrupt (bad job record); check the job by "
                             "hand, then delete the file to start afresh") from None


# --- evaluation --------------------------------------------------------------------------------


class JobContext(nagiosplugin.Context):
    """A job's state is its verdict (libiaso.outcomes)."""

    def __init__(self) -> None:
        super().__init__("job")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
                 ) -> nagiosplugin.Result:
        report: JobReport = metric.value
        return nagiosplugin.Result(report.verdict.state.nagios, report.verdict.text, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> None:
        return None


def job_check(run: ProbeRun, kind: str, target_key: str, targets: Sequence[JobTarget],
              wait: bool, relaunch_after: Optional[float],
              per_target_perfdata: bool = True) -> nagiosplugin.Check:
    """The whole check of a backup or restore probe."""
    settings = run.environment.jobs
    if relaunch_after is None:
        relaunch_after = {"backup": settings.backup_interval,
                          "restore": settings.restore_interval}[kind]
    resource = JobRun(run, kind, target_key, targets, wait, relaunch_after, per_target_perfdata)
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
    """``prod: 1 of 3 backups failed: vm-b (Failed)`` and one long line per job."""

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
        if self.resource.launched_now and not self.resource.wait:
            ids = ", ".join(f"{t.label} (job {t.job_id})" for t in jobs)
            return f"launched {total} {self._plural(total)}: {ids}"
        running = [t for t in jobs if not t.finished]
        if not running:
            last = max((t.ended_at or 0 for t in jobs), default=0)
            ago = f", the last {clock(time.time() - last)} ago" if last else ""
            return f"{total} of {total} {self._plural(total)} completed{ago}"
        progress = ", ".join(self._progress(t) for t in running)
        done = total - len(running)
        prefix = f"{done} of {total} {self._plural(total)} completed, " if done else ""
        return f"{prefix}{len(running)} in progress: {progress}"

    def _progress(self, track: JobTrack) -> str:
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
        return f"{self.environment}: {len(bad)} of {len(jobs)} {self._plural(len(jobs))} " \
               f"{word}: {names}"

    def long_lines(self, results: nagiosplugin.Results) -> List[str]:
        return [f"{str(r.state).upper()} {r.metric.value.verdict.text}"
                for r in self._jobs(results)]
