"""Which VMs exist as hosts in the core, so that each can be given its own backup result.

Two sources, one per site's taste: a hosts file (one host name a line, ``#`` comments), kept by
whoever keeps the core's hosts; or the core's own ``objects.cache`` (Nagios 4, Naemon), where a
VM counts when its host has the per-VM service defined, so a result is never sent to a service
the core does not have. A VM matches a host by its name, compared without regard to case, or by
its short name (up to the first dot) with ``match: short``. Names that no core would accept are
skipped and counted.
"""
from __future__ import annotations

import os
import re
import stat
from typing import Dict, Iterator, NamedTuple

from ..config.fleet_settings import FORBIDDEN_IN_NAMES, NAME_LIMIT, PerVmSettings
from ..errors import ConfigError

SOURCE_LIMIT = 2 * 1024 * 1024 * 1024   # bytes read of an objects.cache (in pieces)
HOSTS_FILE_LIMIT = 64 * 1024 * 1024      # bytes of a hosts file (read whole)
_SERVICE = re.compile(rb"^define service \{\n[ \t]+host_name[ \t]+([^\n]*)\n"
                      rb"[ \t]+service_description[ \t]+([^\n]*)\n", re.M)


class CoreHosts(NamedTuple):
    """The core's host names by the key a VM name is matched with; names skipped."""

    by_key: Dict[str, str]
    skipped: int

    @classmethod
    def load(cls, settings: PerVmSettings) -> CoreHosts:
        if settings.hosts_file:
            names = _lines(b"".join(_pieces(settings.hosts_file, "hosts file",
                                            HOSTS_FILE_LIMIT)))
        else:
            assert settings.objects_cache
            names = list(_service_hosts(settings.objects_cache, settings.service))
        by_key: Dict[str, str] = {}
        skipped = 0
        for name in names:
            if not usable(name):
                skipped += 1
                continue
            by_key.setdefault(match_key(name, settings.match), name)
        return cls(by_key, skipped)

    def host_of(self, vm_name: str, match: str) -> str:
        """The core's host for a VM name, or '' when the VM is not a host there."""
        return self.by_key.get(match_key(vm_name, match), "")


def match_key(name: str, match: str) -> str:
    name = name.strip().lower()
    return name.split(".", 1)[0] if match == "short" else name


def usable(name: str) -> bool:
    return bool(name) and len(name) <= NAME_LIMIT and name.isprintable() and not any(
        c in FORBIDDEN_IN_NAMES for c in name)


def _lines(data: bytes) -> list:
    text = data.decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _service_hosts(path: str, service: str) -> Iterator[str]:
    """The hosts of ``objects.cache`` that have ``service``, read piece by piece: the file of a
    core with 50,000 hosts is tens of megabytes, never held whole."""
    wanted = service.encode("utf-8")
    carry = b""
    for piece in _pieces(path, "objects.cache"):
        data = carry + piece
        cut = data.rfind(b"\ndefine ")   # a block from here on may be incomplete
        cut = 0 if cut < 0 else cut + 1
        for host, named in _SERVICE.findall(data, 0, cut):
            if named.strip() == wanted:
                yield host.decode("utf-8", "replace").strip()
        carry = data[cut:]
    for host, named in _SERVICE.findall(carry):
        if named.strip() == wanted:
            yield host.decode("utf-8", "replace").strip()


def _pieces(path: str, what: str, limit: int = SOURCE_LIMIT) -> Iterator[bytes]:
    """A regular file in pieces of 4 MiB, at most ``limit`` bytes in all, or a ``ConfigError``
    naming it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be opened: {exc.strerror}",
                          key="fleet.delivery.per_vm") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what} {path} is not a regular file",
                              key="fleet.delivery.per_vm")
        if info.st_size > limit:
            raise ConfigError(f"{what} {path} is larger than {limit} bytes",
                              key="fleet.delivery.per_vm")
        left = info.st_size + 1   # a file growing while read is read as far as it was
        while left > 0:
            piece = os.read(fd, min(left, 4 << 20))
            if not piece:
                return
            left -= len(piece)
            yield piece
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror}",
                          key="fleet.delivery.per_vm") from None
    finally:
        os.close(fd)
