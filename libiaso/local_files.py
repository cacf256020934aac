"""Opening the probe's own files: never blocking, never anything but what a file should be.

A FIFO, a device or a directory named by mistake as a configuration, password, state or log
file would hang the probe (a FIFO with no writer or reader blocks ``open``) or feed it endless
bytes. Every such file is opened with O_NONBLOCK and checked with ``fstat`` on the descriptor
itself (no race with a rename) before a byte is read or written.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from typing import IO, Callable, Iterable, List, Tuple

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class LocalFileError(OSError):
    """The file is not one the probe may use; ``strerror`` says why, in words."""


def unusable(exc: OSError) -> str:
    """Why a file cannot be used, to follow its name: ``is a directory``, ``cannot be used:
    Permission denied``."""
    return str(exc.strerror) if isinstance(exc, LocalFileError) else \
        f"cannot be used: {exc.strerror}"


def open_regular(path: str, flags: int, mode: int = 0o644, *,
                 devices: bool = False) -> int:
    """A descriptor on ``path``, opened without blocking, refused unless a regular file (or a
    character device such as /dev/null, when ``devices``). Blocking is restored once checked."""
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC, mode)
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISDIR(kind):
            raise LocalFileError(0, "is a directory")
        if not (stat.S_ISREG(kind) or (devices and stat.S_ISCHR(kind))):
            raise LocalFileError(0, "is not a regular file")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: int) -> Tuple[bytes, int]:
    """Up to ``limit`` bytes of a regular file, and its mode."""
    fd = open_regular(path, os.O_RDONLY)
    try:
        mode = os.fstat(fd).st_mode
        chunks = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), mode
    finally:
        os.close(fd)


def replace_file(path: str, pieces: Iterable[str], mode: int = 0o666, *,
                 durable: bool = True) -> None:
    """Replace ``path`` by the text of ``pieces``, all or nothing.

    A reader sees the old file or the new one, never half of either; a crash leaves at most a
    temporary beside it. ``durable`` waits for the disk (the file, then the directory that names
    it), so that a state saved before a launch survives a power cut. Run as root (an operator
    trying a check by hand), the new file keeps the owner and mode of the one it replaces: the
    core's user must still read it on its next run. Any error (``OSError``, or a ``ValueError``
    while the pieces are produced) removes the temporary and is raised to the caller, who words
    it.
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        try:
            os.unlink(temporary)        # left by a crashed run of the same PID: only its name
        except FileNotFoundError:
            pass
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | _CLOEXEC, mode)
        try:
            handle = os.fdopen(fd, "w", encoding="utf-8")
        except BaseException:
            os.close(fd)
            raise
        with handle:
            _keep_owner(path, handle.fileno(), mode)
            batch: List[str] = []
            for piece in pieces:
                batch.append(piece)
                if len(batch) >= 2000:
                    handle.write("".join(batch))
                    batch = []
            handle.write("".join(batch))
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    if durable:
        _sync_directory(os.path.dirname(path) or ".")


def _keep_owner(path: str, fd: int, mode: int) -> None:
    """Root gives the new file the owner and the mode (never wider than ``mode``) of the regular
    file it replaces, if it can; a link (symbolic or hard) planted there gives nothing away."""
    if os.geteuid() != 0:
        return
    try:
        old = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(old.st_mode) or old.st_nlink != 1:
            return
        if (old.st_uid, old.st_gid) != (0, 0):
            os.fchown(fd, old.st_uid, old.st_gid)
        os.fchmod(fd, stat.S_IMODE(old.st_mode) & mode)
    except OSError:       # no CAP_CHOWN (a container, root-squashed NFS): saved as root's
        pass


def _sync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_pipe_writer(path: str) -> int:
    """A non-blocking descriptor writing into the FIFO at ``path`` (a core's command file).

    Refused unless a FIFO, by name before opening (a socket, a device or a directory named
    there is not opened) and again on the descriptor (whatever a rename put there in between):
    a regular file would take every line and hand it to no one. With no reader, ``open`` fails
    at once with ENXIO.
    """
    if not stat.S_ISFIFO(os.stat(path).st_mode):
        raise LocalFileError(0, "is not a FIFO (a core's command file is one)")
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise LocalFileError(0, "is not a FIFO (a core's command file is one)")
    return fd


def hold_lock(path: str, remaining: Callable[[], float], margin: float) -> IO[bytes]:
    """An exclusive lock on ``path.lock`` (made, with ``path``'s directory, if missing; never
    through a symbolic link, which would lock, or create, another file), held
    until the returned file is closed: one run at a time uses ``path``. Another run holding it
    is waited for while ``remaining()`` (seconds) stays above ``margin``. ``LocalFileError``
    says in words what could not be used."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise LocalFileError(0, f"state directory {directory} is not usable: "
                                f"{exc.strerror}") from None
    try:
        handle = os.fdopen(open_regular(path + ".lock", os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                        | os.O_NOFOLLOW, 0o640), "ab")
    except OSError as exc:
        raise LocalFileError(0, f"lock file {path}.lock {unusable(exc)}") from None
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                handle.close()
                raise LocalFileError(0, f"cannot lock {path}: {exc.strerror}") from None
        if remaining() < margin:
            handle.close()
            raise LocalFileError(0, f"{path} stayed locked by another run")
        time.sleep(0.05)
