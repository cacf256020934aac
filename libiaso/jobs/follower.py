"""Following many jobs at once without flooding the API.

One snapshot per call is all the API gives, so jobs are polled. The follower keeps every job on
a schedule and sends at most ``pool_size`` status requests at a time over as many pooled
connections (never a thread per job); a job is polled every ``interval`` seconds from its
launch, with exponential back-off after a failed poll, until it ends or the deadline comes. A
job ID that was just returned may be unknown to the API for a moment: a 404 on its first polls
is retried shortly. Following never cancels or kills a job.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..api.answers import JobStatus
from ..api.client import IasoClient
from ..deadline import Deadline
from ..errors import ApiStatusError, ServiceError, TransportError
from .calls import read_status
from .outcomes import OutcomeTable
from .track import JobTrack

log = logging.getLogger("iaso.follower")

NOT_FOUND_POLLS = 3
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
        self._intervals: Dict[int, float] = {}
        self._not_found: Dict[int, int] = {}

    def poll_once(self, tracks: Sequence[JobTrack]) -> None:
        """One status request for every job not yet finished (a stateful probe run)."""
        self._run([(0.0, track) for track in tracks if not track.finished], repeat=False)

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
        order = itertools.count()
        queue = [(due, next(order), track) for due, track in schedule]
        heapq.heapify(queue)
        stop_at = time.monotonic() + self.deadline.remaining() - self._margin()
        in_flight: Dict[Future, JobTrack] = {}
        executor = ThreadPoolExecutor(max_workers=self.pool_size,
                                      thread_name_prefix="iaso-poll")
        try:
            while queue or in_flight:
                now = time.monotonic()
                while queue and queue[0][0] <= now and len(in_flight) < self.pool_size \
                        and now < stop_at:
                    _, _, track = heapq.heappop(queue)
                    in_flight[executor.submit(self._fetch, track)] = track
                    self.requests += 1
                self.peak_in_flight = max(self.peak_in_flight, len(in_flight))
                if not in_flight and (not queue or queue[0][0] >= stop_at):
                    break
                wake = min(queue[0][0], stop_at) if queue and len(in_flight) < self.pool_size \
                    else stop_at
                done, _ = wait(list(in_flight), timeout=max(0.0, wake - now),
                               return_when=FIRST_COMPLETED)
                for future in done:
                    track = in_flight.pop(future)
                    delay = self._apply(track, future.result())
                    if repeat and delay is not None:
                        heapq.heappush(queue, (time.monotonic() + delay, next(order), track))
                if time.monotonic() >= stop_at:
                    break  # answers still in flight are dropped: tracks change only here
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    def _margin(self) -> float:
        """Time kept before the deadline to stop scheduling and report."""
        return min(0.5, 0.1 * self.deadline.remaining())

    def _fetch(self, track: JobTrack) -> Union[JobStatus, ServiceError]:
        """In a pool thread: one status request; the answer or the API's failure."""
        try:
            return read_status(self.client, track.job_id, track.hostname)
        except ServiceError as exc:
            return exc

    def _apply(self, track: JobTrack, result: Union[JobStatus, ServiceError]) -> Optional[float]:
        """In the main thread: record a poll; the delay before the next, None once finished."""
        key = id(track)
        interval = self._intervals.get(key, self.interval)
        if isinstance(result, ApiStatusError):
            if result.status == 404 and self._not_found.get(key, 0) + track.polls < NOT_FOUND_POLLS:
                self._not_found[key] = self._not_found.get(key, 0) + 1
                log.info("job %s of %s not visible yet (404)", track.job_id, track.hostname)
                return min(interval, 0.5 * 2 ** self._not_found[key])
            track.fail(result.message, final=result.status not in TRANSIENT_STATUSES)
            return None if track.finished else self._back_off(key, interval)
        if isinstance(result, TransportError):
            track.fail(result.message, final=False)
            return self._back_off(key, interval)
        if isinstance(result, ServiceError):
            track.fail(result.message, final=True)
            return None
        snapshot = result
        track.observe(snapshot, self.wall_clock(), self.table.category(snapshot.status))
        self._intervals[key] = self.interval
        log.info("job %s of %s: %s %s %%", track.job_id, track.hostname, snapshot.status,
                 snapshot.percent)
        return None if track.finished else self.interval

    def _back_off(self, key: int, interval: float) -> float:
        self._intervals[key] = min(self.max_interval, interval * 2)
        log.info("status poll failed; next try in %.1f s", self._intervals[key])
        return self._intervals[key]
