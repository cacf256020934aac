"""Replacing the probe's own files: all or nothing, durable when asked, owned by the core's user.

The expectations come from what a crash, a power cut and an operator trying a check by hand as
root do to a state file, not from the code: POSIX rename(2) is atomic but is only durable once
the directory is synced (fsync(2) on Linux: "calling fsync() on a file does not necessarily
ensure that the entry in the directory containing the file has also reached disk").
"""
from __future__ import annotations

import os
import time
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


def test_ok_a_file_linked_at_the_temporary_name_is_not_written_through(tmp_path: Path) -> None:
    """A hard link planted where the temporary goes (or one left by a crash of the same PID)
    must lose its name only, never its content."""
    planted = tmp_path / "elsewhere"
    planted.write_text("precious")
    target = tmp_path / "state.json"
    os.link(planted, tmp_path / f"state.json.{os.getpid()}.tmp")
    replace_file(str(target), ["{}"])
    assert planted.read_text() == "precious" and target.read_text() == "{}"
    assert planted.stat().st_nlink == 1


class _Root:
    """What root's replacement would do to owners, seen without being root."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> None:
        self.given: List[tuple] = []
        monkeypatch.setattr(local_files.os, "geteuid", lambda: 0)
        monkeypatch.setattr(local_files.os, "fchown", self.fchown)
        self.refuse = refuse

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        if self.refuse:
            raise PermissionError(1, "Operation not permitted")
        self.given.append((uid, gid))


def _owned_by_nobody(monkeypatch: pytest.MonkeyPatch, target: Path, mode: int) -> None:
    real_stat = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(path) == str(target):
            return os.stat_result((0o100000 | mode, 0, 0, 1, 65534, 65534, 3, 0, 0, 0))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local_files.os, "stat", stat)


def test_ok_root_gives_the_replacement_to_the_owner_of_a_regular_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    root = _Root(monkeypatch)
    _owned_by_nobody(monkeypatch, target, 0o640)
    replace_file(str(target), ["new"])
    assert root.given == [(65534, 65534)]
    assert os.lstat(target).st_mode & 0o777 == 0o640
    replace_file(str(target), ["newer"], 0o600)       # never wider than asked
    assert os.lstat(target).st_mode & 0o777 == 0o600 and target.read_text() == "newer"


@pytest.mark.parametrize("planted", ["symlink", "hard-link"])
def test_ok_root_gives_nothing_to_the_owner_of_a_planted_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str) -> None:
    target = tmp_path / "state.json"
    other = tmp_path / "other"
    other.write_text("x")
    if planted == "symlink":
        target.symlink_to(other)
    else:
        os.link(other, target)
    root = _Root(monkeypatch)
    monkeypatch.setattr(local_files.os, "fchmod", lambda fd, mode: root.given.append(mode))
    replace_file(str(target), ["new"])
    assert root.given == [] and target.read_text() == "new" and not target.is_symlink()


def test_ok_root_without_the_right_to_give_files_away_still_saves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    _Root(monkeypatch, refuse=True)
    _owned_by_nobody(monkeypatch, target, 0o644)
    replace_file(str(target), ["new"])
    assert target.read_text() == "new"


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


@pytest.mark.parametrize("target", ["another-file", "dangling"])
def test_unknown_a_lock_file_that_is_a_link_is_refused_untouched(tmp_path: Path,
                                                                 target: str) -> None:
    """A symbolic link planted as ``state.json.lock``: followed, it would lock another file,
    or (dangling, run as root) create one wherever it points, /etc/nologin included."""
    other = tmp_path / "other"
    if target == "another-file":
        other.write_text("precious")
    (tmp_path / "state.json.lock").symlink_to(other)
    with pytest.raises(local_files.LocalFileError, match=r"lock file .*state\.json\.lock"):
        local_files.hold_lock(str(tmp_path / "state.json"), lambda: 10.0, 0.5)
    if target == "another-file":
        assert other.read_text() == "precious"
    else:
        assert not other.exists()


def test_ok_a_lock_is_held_until_closed(tmp_path: Path) -> None:
    path = str(tmp_path / "lab" / "state.json")
    held = local_files.hold_lock(path, lambda: 10.0, 0.5)
    started = time.monotonic()
    with pytest.raises(local_files.LocalFileError, match="stayed locked by another run"):
        local_files.hold_lock(path, lambda: 10.6 - (time.monotonic() - started) * 50, 10.0)
    held.close()
    local_files.hold_lock(path, lambda: 10.0, 0.5).close()
