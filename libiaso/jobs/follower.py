"""Following many jobs at once without flooding the API.

One snapshot per call is all the API gives, so jobs are polled. The follower keeps every job on
a schedule and sends at most ``pool_size`` status requests at a time over as many pooled
connections (never a thread per job); a job is polled every ``interval`` seconds from its
launch, with exponential back-off after a request that got no answer or a passing error (429,
5xx), until it ends or the deadline comes. A job ID that was just returned may be unknown to the
API for a moment: a 404 on its first polls is retried. Following never cancels or kills a job.

Every request sent leaves a mark on its job: the answer, or why there is none. A request still
in flight when the probe must stop (its deadline, SIGTERM) is recorded as unanswered, and so,
in a stateful run, is a job the run had no time to ask about: a job never goes unpolled
silently. The probe's own deadline is not blamed on the API, though: while following, a poll
the deadline cuts when it was pending less than the deadline's fair share of -t, or, for a job
that has answered during this run, before it was overdue (``OVERDUE`` seconds, or one poll
interval if longer), shows only that the deadline came, and the job keeps its last answer
(``cut_pending`` says so); so does a poll the transport cut for being sent with less than its
fair share (``OutOfTime``), which in a stateful run is a job without an answer. Each answer
is applied to its job whole, signals held.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from ..api.answers import JobNotVisible, JobStatus
from ..api.client import IasoClient
from ..deadline import Deadline, Terminated
from ..errors import (
    ApiStatusError,
    OutOfTime,
    ProbeInterrupted,
    ServiceError,
    TransportError,
)
from .calls import read_status
from .outcomes import OutcomeTable
from .track import JobTrack

log = logging.getLogger("iaso.follower")

NOT_FOUND_POLLS = 3
OVERDUE = 1.0   # seconds a status request may take before the deadline's cut counts against it
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)


class JobFollower:
    """Polls tracked jobs on a schedule, ``pool_size`` requests at a time at most."""

    def __init__(self, client: IasoClient, table: OutcomeTable, deadline: Deadline, *,
                 pool_size: int = 8, interval: float = 10.0, max_interval: float = 60.0,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.table = table
        self.deadline = deadline
        self.pool_size = pool_size
        self.interval = interval
        self.max_interval = max_interval
        self.wall_clock = wall_clock
        self.requests = 0
        self.peak_in_flight = 0
        self.cut_short = 0
        self.interrupted: Optional[ProbeInterrupted] = None
        self._intervals: Dict[int, float] = {}
        self._answered: Set[int] = set()
        self._following = False

    def poll_once(self, tracks: Sequence[JobTrack]) -> None:
        """One status request for every job not yet finished (a stateful probe run), those
        heard of least recently first: when -t cannot hold them all, the ones left are not
        always the same, and no job's silence grows run after run for want of asking."""
        waiting = sorted((t for t in tracks if not t.finished), key=lambda t: t.silent_since)
        self._run([(0.0, track) for track in waiting], repeat=False)

    def follow(self, tracks: Sequence[JobTrack]) -> bool:
        """Poll until every job has finished or the deadline is near; True if all finished."""
        now = time.monotonic()
        first = [(now + self._first_delay(track), track) for track in tracks
                 if not track.finished]
        self._run(first, repeat=True)
        return all(track.finished for track in tracks)

    def _first_delay(self, track: JobTrack) -> float:
        """Poll one interval after launch: sooner only tells what is already known."""
        since_launch = self.wall_clock() - track.launched_at
        return max(0.0, self.interval - since_launch)

    def _run(self, schedule: List[Tuple[float, JobTrack]], repeat: bool) -> None:
        self._following = repeat
        order = itertools.count()
        queue = [(due, next(order), track) for due, track in schedule]
        heapq.heapify(queue)
        in_flight: Dict[Future, JobTrack] = {}
        sent_at: Dict[Future, float] = {}
        why = f"no complete answer before the probe's deadline (-t {self.deadline.timeout:g})"
        executor = ThreadPoolExecutor(max_workers=self.pool_size,
                                      thread_name_prefix="iaso-poll")
        try:
            stop_at = time.monotonic() + self.deadline.remaining() - self._margin()
            while queue or in_flight:
                now = time.monotonic()
                while queue and queue[0][0] <= now and len(in_flight) < self.pool_size \
                        and now < stop_at:
                    _, _, track = heapq.heappop(queue)
                    future = executor.submit(self._fetch, track)
                    in_flight[future] = track
                    sent_at[future] = now
                    self.requests += 1
                self.peak_in_flight = max(self.peak_in_flight, len(in_flight))
                if not in_flight and (not queue or queue[0][0] >= stop_at):
                    break
                sendable = queue and len(in_flight) < self.pool_size and queue[0][0] < stop_at
                wake = queue[0][0] if sendable else stop_at
                done, _ = wait(list(in_flight), timeout=max(0.0, wake - now),
                               return_when=FIRST_COMPLETED)
                for future in done:
                    track, delay = self._settle(future, in_flight)
                    if repeat and delay is not None:
                        heapq.heappush(queue, (time.monotonic() + delay, next(order), track))
                if time.monotonic() >= stop_at:
                    break
        except ProbeInterrupted as exc:   # the deadline's alarm or SIGTERM, while waiting
            self.interrupted = exc
            why = f"no complete answer: {exc.message}"
        finally:
            with self.deadline.held():
                cut_at = time.monotonic()
                for future in list(in_flight):
                    if future.done():
                        self._settle(future, in_flight)
                    elif repeat and self._cut_short(in_flight[future], cut_at - sent_at[future]):
                        in_flight.pop(future)
                    else:
                        in_flight.pop(future).unanswered(why)
                if not repeat:
                    for _, _, track in queue:
                        track.unanswered("not asked this run: no time left before the "
                                         f"probe's deadline (-t {self.deadline.timeout:g})")
            executor.shutdown(wait=False, cancel_futures=True)

    def _cut_short(self, track: JobTrack, pending: float) -> bool:
        """True if the deadline, not the API, left this request unanswered: it was pending
        less than the deadline's fair share, or the job answered during this run and the
        request was not yet overdue. A stop asked by SIGTERM is no deadline of ours: there
        every request in flight counts as unanswered."""
        if isinstance(self.interrupted, Terminated):
            return False
        overdue = max(OVERDUE, self.interval) if id(track) in self._answered else 0.0
        if pending >= max(self.deadline.fair_share(), overdue):
            return False
        self.cut_short += 1
        track.cut_pending = pending
        log.info("job %s of %s: the deadline cut a status request pending %.2f s; its last "
                 "answer stands", track.job_id, track.hostname, pending)
        return True

    def _margin(self) -> float:
        """Time kept before the deadline to stop scheduling and report."""
        return min(0.5, 0.1 * self.deadline.remaining())

    def _settle(self, future: Future, in_flight: Dict[Future, JobTrack]
                ) -> Tuple[JobTrack, Optional[float]]:
        """Apply one finished request to its job, signals held; the delay before the next."""
        track = in_flight.pop(future)
        with self.deadline.held():
            return track, self._apply(track, future.result())

    def _fetch(self, track: JobTrack) -> Union[JobStatus, ServiceError, OutOfTime]:
        """In a pool thread: one status request; the answer, the API's failure, or the
        deadline's cut of a request sent too late to count against the API."""
        try:
            return read_status(self.client, track.job_id, track.hostname)
        except (ServiceError, OutOfTime) as exc:
            return exc

    def _apply(self, track: JobTrack, result: Union[JobStatus, ServiceError, OutOfTime]
               ) -> Optional[float]:
        """In the main thread: record a poll; the delay before the next, None to stop."""
        key = id(track)
        interval = self._intervals.get(key, self.interval)
        if isinstance(result, OutOfTime):
            if self._following:      # the job keeps what it last said, or "still starting"
                track.cut_pending = result.elapsed or 0.0
                log.info("job %s of %s: %s", track.job_id, track.hostname, result.message)
            else:
                track.unanswered(result.message)
            return None
        if isinstance(result, ApiStatusError) and result.status == 404 \
                and track.last_seen_at is None and track.unseen_polls + 1 < NOT_FOUND_POLLS:
            track.unseen_polls += 1
            said = result.evidence if isinstance(result, JobNotVisible) else "HTTP 404"
            track.unanswered(f"job {track.job_id} not visible yet ({said}, "
                             f"{track.unseen_polls} of {NOT_FOUND_POLLS} tries)")
            log.info("job %s of %s not visible yet (%s)", track.job_id, track.hostname, said)
            return min(interval, 0.5 * 2 ** track.unseen_polls)
        if isinstance(result, TransportError):
            track.unanswered(result.message)
            return self._back_off(key, interval)
        if isinstance(result, ServiceError):
            track.unreadable(result.message)
            if isinstance(result, ApiStatusError) and result.status in TRANSIENT_STATUSES:
                return self._back_off(key, interval)
            return None   # asking again within this run would only repeat the same answer
        snapshot = result
        track.observe(snapshot, self.wall_clock(), self.table.category(snapshot.status))
        if track.problem_kind is None:
            self._answered.add(key)
        self._intervals[key] = self.interval
        log.info("job %s of %s: %s %s %%", track.job_id, track.hostname, snapshot.status,
                 snapshot.percent)
        return None if track.finished else self.interval

    def _back_off(self, key: int, interval: float) -> float:
        self._intervals[key] = min(self.max_interval, interval * 2)
        log.info("status poll failed; next try in %.1f s", self._intervals[key])
        return self._intervals[key]

