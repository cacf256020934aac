"""The durable spool: every notification is written here before any delivery is tried, and
leaves only once the desk has taken it.

A core never retries a notification command, so a desk that is down would otherwise lose the
notification. One file per notification, written in ``tmp/``, synced, then renamed into
``queue/`` (a rename is atomic: a crash leaves either nothing or a whole file), named by the
core's time of the notification, then by the core's notification counter (Nagios 4) or the time
it arrived, so that delivery follows the core's order even when the core ran two notification
commands side by side and the later one reached the spool first. Delivery holds a
lock, so that two runs never deliver the same file twice, and stops at the first notification
the desk cannot take now, keeping the order for the next run. A notification the desk refuses
for good goes to ``rejected/``, kept for a person, instead of blocking the queue for ever; so
does a queue file that cannot be read as a notification (or is no regular file at all).

Every file here is opened without blocking and refused unless a regular file
(``local_files.open_regular``): a FIFO or a device put in the spool's place, by mistake or not,
must not hang the core's notification command.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from typing import Callable, List, NamedTuple, Optional

from ..errors import ConfigError, DeskRejected, DeskUnreachable
from ..local_files import LocalFileError, open_regular, read_regular
from .notification import Notification

Clock = Callable[[], float]
SPOOL_FILE_LIMIT = 1024 * 1024


class FlushReport(NamedTuple):
    delivered: int
    rejected: int
    waiting: int          # left in the queue (desk unreachable, lock busy, or time up)
    reason: str           # why some wait, '' when the queue is empty


class Spool:
    def __init__(self, directory: str, clock: Clock = time.time) -> None:
        self.directory = directory
        self.queue = os.path.join(directory, "queue")
        self.tmp = os.path.join(directory, "tmp")
        self.rejected = os.path.join(directory, "rejected")
        self.clock = clock
        self._sequence = 0

    def prepare(self) -> None:
        """Create the directories, private to the monitoring user."""
        try:
            for path in (self.directory, self.queue, self.tmp, self.rejected):
                os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"spool directory {self.directory} cannot be created: "
                              f"{exc.strerror}") from None

    def put(self, notification: Notification) -> str:
        """Write ``notification`` durably; returns its file's path."""
        self.prepare()
        self._sequence += 1
        arrived = self.clock()
        at = notification.sequence if notification.sequence is not None else arrived
        counted = re.search(r":n(\d{1,18})(@|$)", notification.notification_id)
        then = int(counted.group(1)) if counted else int(arrived * 1e9)
        name = (f"{int(at * 1e6):018d}-{then:020d}-{os.getpid():07d}-"
                f"{self._sequence:04d}.json")
        data = notification.to_json().encode("utf-8")
        final = write_whole(self.tmp, name, data, into=self.queue)
        return final

    def keep_rejected(self, name: str, data: bytes) -> str:
        """Keep ``data`` in ``rejected/`` under ``name``, for a person."""
        self.prepare()
        return write_whole(self.tmp, name, data, into=self.rejected)

    def waiting(self) -> List[str]:
        """Queued files, oldest first."""
        try:
            names = sorted(n for n in os.listdir(self.queue) if n.endswith(".json"))
        except FileNotFoundError:
            return []
        return [os.path.join(self.queue, name) for name in names]

    def rejected_files(self) -> List[str]:
        try:
            return sorted(os.path.join(self.rejected, n) for n in os.listdir(self.rejected))
        except FileNotFoundError:
            return []

    def flush(self, deliver: Callable[[Notification], object], until: float,
              monotonic: Clock = time.monotonic,
              journal: Optional[Callable[[str], None]] = None) -> FlushReport:
        """Deliver queued notifications in order until the queue is empty, the desk cannot
        take one, or the monotonic time ``until`` is reached; ``journal`` hears of each."""
        say = journal or (lambda line: None)
        delivered = rejected = 0
        with self._lock(until, monotonic) as held:
            if not held:
                return FlushReport(0, 0, len(self.waiting()),
                                   "another delivery holds the spool")
            while True:
                pending = self.waiting()
                if not pending:
                    return FlushReport(delivered, rejected, 0, "")
                for path in pending:
                    if monotonic() >= until:
                        return FlushReport(delivered, rejected, len(self.waiting()),
                                           "time is up")
                    name = os.path.basename(path)
                    try:
                        notification = self._read(path)
                        outcome = deliver(notification)
                    except DeskUnreachable as exc:
                        say(f"{name} waits: {exc.message}")
                        return FlushReport(delivered, rejected, len(self.waiting()),
                                           exc.message)
                    except (DeskRejected, ValueError, LocalFileError) as exc:
                        self._set_aside(path)
                        rejected += 1
                        say(f"{name} set aside in {self.rejected}: {reason_of(exc)}")
                        continue
                    _unlink(path)
                    delivered += 1
                    say(f"{name} delivered: {notification.kind} {notification.object_name} "
                        f"[{notification.key or '-'}] {outcome or 'sent'}")

    def _read(self, path: str) -> Notification:
        data, _ = read_regular(path, SPOOL_FILE_LIMIT + 1)
        if len(data) > SPOOL_FILE_LIMIT:
            raise ValueError("spool file larger than its bound")
        return Notification.from_json(data.decode("utf-8"))

    def _set_aside(self, path: str) -> None:
        os.makedirs(self.rejected, mode=0o700, exist_ok=True)
        os.rename(path, os.path.join(self.rejected, os.path.basename(path)))

    class _Held:
        def __init__(self, fd: Optional[int]) -> None:
            self.fd = fd

        def __enter__(self) -> bool:
            return self.fd is not None

        def __exit__(self, *exc: object) -> None:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)

    def _lock(self, until: float, monotonic: Clock) -> Spool._Held:
        self.prepare()
        fd = open_regular(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT,
                          0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return Spool._Held(fd)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if monotonic() >= until:
                os.close(fd)
                return Spool._Held(None)
            time.sleep(0.05)


def reason_of(exc: Exception) -> str:
    """What went wrong, in words, for the journal."""
    return getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc)


def write_whole(directory: str, name: str, data: bytes, into: Optional[str] = None) -> str:
    """Write ``data`` as ``name`` in ``directory``, synced, then rename it into ``into`` (by
    default ``directory`` itself, the file then named with a leading '.' until whole): a crash
    leaves the whole file or none. Returns the final path."""
    final = os.path.join(into or directory, name)
    temporary = os.path.join(directory, name if into else f".{name}.tmp")
    fd = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(temporary)
        raise
    os.close(fd)
    os.rename(temporary, final)
    _sync_directory(into or directory)
    return final


def _sync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

