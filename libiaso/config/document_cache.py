"""A private JSON copy of the parsed configuration, so that most runs need no YAML parser.

Every probe run reads the same small file. Parsing it is quick, but importing PyYAML is a
noticeable share of a probe's start-up, paid every few minutes by every service of a core
(bench/probe_cost.py). The parsed document is kept as JSON, keyed by the file's identity (device,
inode, size, modification and change times in nanoseconds): any edit, replacement or chmod of the
file misses the cache. The document holds no secret (passwords live in their own files). A cache
file that is not ours, or that others could have written, is ignored, and any problem with the
cache only means the YAML is parsed again: it never changes what a probe reports.
"""
from __future__ import annotations

import json
import os
import stat
from typing import Any, List, Optional, Tuple
from urllib.parse import quote

from .. import __version__
from ..local_files import replace_file

DIRECTORY_VARIABLE = "IASO_PROBES_CACHE_DIR"
MISS = object()
Stamp = Tuple[int, int, int, int, int]


def stamp_of(path: str) -> Optional[Stamp]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def directory() -> Optional[str]:
    """The first usable cache directory: $IASO_PROBES_CACHE_DIR ('off' disables), then
    ~/.cache/iaso-probes, then /var/tmp/iaso-probes-<uid>."""
    chosen = os.environ.get(DIRECTORY_VARIABLE)
    if chosen is not None:
        return None if chosen in ("", "off") else (chosen if _private_dir(chosen) else None)
    candidates: List[str] = [os.path.join(os.path.expanduser("~"), ".cache", "iaso-probes"),
                             f"/var/tmp/iaso-probes-{os.geteuid()}"]
    for candidate in candidates:
        if _private_dir(candidate):
            return candidate
    return None


def load(path: str, stamp: Stamp) -> Any:
    """The cached document for ``path`` at ``stamp``, or ``MISS``."""
    where = _entry(path)
    if where is None:
        return MISS
    try:
        with open(where, encoding="utf-8") as handle:
            st = os.fstat(handle.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return MISS
            entry = json.load(handle)
    except (OSError, ValueError):
        return MISS
    if not isinstance(entry, dict) or entry.get("format") != __version__ \
            or entry.get("source") != os.path.abspath(path) or entry.get("stamp") != list(stamp):
        return MISS
    return entry.get("document", MISS)


def store(path: str, stamp: Stamp, document: Any) -> None:
    """Keep ``document`` for later runs, if it survives a JSON round trip unchanged."""
    where = _entry(path)
    if where is None:
        return
    try:
        text = json.dumps({"format": __version__, "source": os.path.abspath(path),
                           "stamp": list(stamp), "document": document}, allow_nan=False)
        if json.loads(text)["document"] != document:
            return
    except (TypeError, ValueError, RecursionError):
        return
    try:
        replace_file(where, [text], 0o600, durable=False)
    except OSError:
        pass

def _entry(path: str) -> Optional[str]:
    base = directory()
    if base is None:
        return None
    return os.path.join(base, quote(os.path.abspath(path), safe="") + ".json")


def _private_dir(path: str) -> bool:
    """True if ``path`` is (or could be made) a directory of ours that no one else can write."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            and os.access(path, os.W_OK | os.X_OK))
