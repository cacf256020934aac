"""Replacing the probe's own files: all or nothing, durable when asked, owned by the core's user.

The expectations come from what a crash, a power cut and an operator trying a check by hand as
root do to a state file, not from the code: POSIX rename(2) is atomic but is only durable once
the directory is synced (fsync(2) on Linux: "calling fsync() on a file does not necessarily
ensure that the entry in the directory containing the file has also reached disk").
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List

import pytest

from libiaso import local_files
from libiaso.local_files import replace_file


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_ok_file_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    replace_file(str(target), ["{", '"a": 1', "}"])
    assert target.read_text() == '{"a": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_unknown_failure_while_writing_keeps_the_old_file_and_no_temporary(
        tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    def pieces() -> Iterator[str]:
        yield "half"
        raise ValueError("cannot be written as JSON")

    with pytest.raises(ValueError):
        replace_file(str(target), pieces())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_ok_durable_replacement_syncs_the_file_then_its_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: List[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(local_files.os, "fsync", fsync)
    replace_file(str(tmp_path / "state.json"), ["{}"])
    assert len(synced) == 2
    assert synced[0].startswith(str(tmp_path / "state.json."))
    assert synced[1] == str(tmp_path)
    synced.clear()
    replace_file(str(tmp_path / "cache.json"), ["{}"], durable=False)
    assert synced == []


def test_unknown_descriptor_not_leaked_when_the_file_object_cannot_be_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fdopen(*args: object, **kwargs: object) -> None:
        raise MemoryError

    before = _open_descriptors()
    monkeypatch.setattr(local_files.os, "fdopen", fdopen)
    with pytest.raises(MemoryError):
        replace_file(str(tmp_path / "state.json"), ["{}"])
    assert _open_descriptors() == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_ok_root_replacing_a_users_file_leaves_it_to_that_user(tmp_path: Path) -> None:
    """An operator runs a stateful check by hand as root: the core's user must still read the
    state on its next run."""
    target = tmp_path / "state.json"
    target.write_text("old")
    os.chown(target, 65534, 65534)
    replace_file(str(target), ["new"], 0o600)
    after = target.stat()
    assert (after.st_uid, after.st_gid, after.st_mode & 0o777) == (65534, 65534, 0o600)
    fresh = tmp_path / "fresh.json"
    replace_file(str(fresh), ["new"], 0o600)
    assert (fresh.stat().st_uid, fresh.stat().st_gid) == (0, 0)
