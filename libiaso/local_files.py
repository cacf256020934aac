"""Opening the probe's own files: never blocking, never anything but what a file should be.

A FIFO, a device or a directory named by mistake as a configuration, password, state or log
file would hang the probe (a FIFO with no writer or reader blocks ``open``) or feed it endless
bytes. Every such file is opened with O_NONBLOCK and checked with ``fstat`` on the descriptor
itself (no race with a rename) before a byte is read or written.
"""
from __future__ import annotations

import os
import stat
from typing import Tuple

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class LocalFileError(OSError):
    """The file is not one the probe may use; ``strerror`` says why, in words."""


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
