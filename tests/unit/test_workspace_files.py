"""Host access to an untrusted tree (orchestrator.core.workspace_files): one rule set.

Names stay relative and plain, links are never followed, only regular files and
folders are opened and nothing blocks, writes never go through anything, and
permissions the sandbox took from the host user's own files are given back.
"""

from __future__ import annotations

import os
import pickle
import resource
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.core import workspace_files
from orchestrator.core.workspace_files import (MAX_TEXT_BYTES, FileEntry, clear_dir, entry, list_tree, read_bytes,
                                               read_text, remove, write_bytes, write_text)
from orchestrator.errors import WorkspaceEscape

NOBODY = 65534


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    (tmp_path / "secret").write_text("host secret")
    return path


def test_round_trips_and_creates_parents(work: Path) -> None:
    write_text(work, "pkg/deep/solution.py", "x = 1\n")
    assert read_text(work, "pkg/deep/solution.py") == "x = 1\n"
    write_bytes(work, "./pkg/data.bin", b"\x00\x01")
    assert read_bytes(work, "pkg/data.bin") == b"\x00\x01"
    assert entry(work, "pkg") == FileEntry("pkg", "dir") and entry(work, "nope") is None
    assert not [p for p in (work / "pkg").iterdir() if ".avo-" in p.name]  # no temporary left behind


@pytest.mark.parametrize("relative", ["/etc/passwd", "../secret", "pkg/../../secret", "~/x", "C:\\x", "a\x00b"])
def test_paths_leaving_the_root_are_refused(work: Path, relative: str) -> None:
    with pytest.raises(WorkspaceEscape):
        read_text(work, relative)
    with pytest.raises(WorkspaceEscape):
        write_text(work, relative, "x")
    assert (work.parent / "secret").read_text() == "host secret"


@pytest.mark.parametrize("plant, relative, match", [
    (lambda w: (w / "solution.py").symlink_to(w.parent / "secret"), "solution.py", "symlink"),
    (lambda w: (w / "inside.py").symlink_to(w / "other.py"), "inside.py", "symlink"),
    (lambda w: (w / "pkg").symlink_to(w.parent), "pkg/secret", "symlink"),
    (lambda w: os.mkfifo(w / "solution.py"), "solution.py", "FIFO"),
    (lambda w: (w / "solution.py").write_bytes(b"\xff\xfe"), "solution.py", "not UTF-8"),
    (lambda w: (w / "solution.py").write_bytes(b"#" * (MAX_TEXT_BYTES + 1)), "solution.py", "larger than"),
])
def test_hostile_files_are_refused_for_reading(work: Path, plant: Callable[[Path], None], relative: str,
                                               match: str) -> None:
    (work / "other.py").write_text("inside")
    plant(work)
    with pytest.raises(WorkspaceEscape, match=match):
        read_text(work, relative)


def test_lenient_reads_cut_and_replace(work: Path) -> None:
    (work / "big.txt").write_bytes(b"ab\xff" + b"c" * 10)
    assert read_text(work, "big.txt", max_bytes=5, lenient=True).startswith("ab\ufffdcc\n[... file larger")


def test_a_fifo_or_socket_never_blocks_and_is_refused(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.mkfifo(work / "pipe")
    monkeypatch.chdir(work)  # a socket's path must be short: bind it relative to its folder
    listener = socket.socket(socket.AF_UNIX)
    listener.bind("sock")
    started = time.monotonic()
    try:
        for action in (lambda: read_text(work, "pipe"), lambda: write_text(work, "pipe", "x"),
                       lambda: read_text(work, "sock"), lambda: write_text(work, "sock", "x")):
            with pytest.raises(WorkspaceEscape, match="FIFO|socket"):
                action()
    finally:
        listener.close()
    assert time.monotonic() - started < 1.0
    assert stat.S_ISFIFO((work / "pipe").lstat().st_mode)  # refused, not replaced


def test_a_fifo_swapped_in_after_the_check_never_blocks_the_open(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race ``lstat`` cannot close: the file is a regular one when checked and a FIFO (with no
    writer) when opened. Only ``O_NONBLOCK`` keeps that open from blocking the host forever."""
    (work / "solution.py").write_text("checked")
    check = workspace_files._lstat

    def check_then_swap(folder: int, name: str) -> os.stat_result | None:
        found = check(folder, name)
        if name == "solution.py" and found is not None and stat.S_ISREG(found.st_mode):
            os.unlink(name, dir_fd=folder)
            os.mkfifo(name, dir_fd=folder)
        return found

    monkeypatch.setattr(workspace_files, "_lstat", check_then_swap)
    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            outcome.append(read_text(work, "solution.py"))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # blocked in open(): release it with a writer, then fail
        os.close(os.open(work / "solution.py", os.O_WRONLY))
        reader.join(timeout=5)
        pytest.fail("opening a FIFO swapped in after the check blocked")
    assert len(outcome) == 1 and isinstance(outcome[0], WorkspaceEscape) and "FIFO" in str(outcome[0]), outcome


def test_writes_never_go_through_a_link_and_replace_only_when_asked(work: Path) -> None:
    secret = work.parent / "secret"
    (work / "solution.py").symlink_to(secret)
    with pytest.raises(WorkspaceEscape, match="symlink"):
        write_text(work, "solution.py", "clobbered")
    write_text(work, "solution.py", "restored", replace=True)
    assert secret.read_text() == "host secret"
    assert not (work / "solution.py").is_symlink() and (work / "solution.py").read_text() == "restored"
    os.mkfifo(work / "fifo.py")
    write_text(work, "fifo.py", "restored", replace=True)
    assert (work / "fifo.py").read_text() == "restored"
    (work / "linkdir").symlink_to(work.parent)
    with pytest.raises(WorkspaceEscape):
        write_text(work, "linkdir/new.txt", "x", replace=True)  # replace is about the file, never its folders
    assert not (work.parent / "new.txt").exists()


def test_a_read_only_file_is_replaced_not_refused(work: Path) -> None:
    (work / "solution.py").write_text("old")
    (work / "solution.py").chmod(0o444)
    write_text(work, "solution.py", "new")
    assert (work / "solution.py").read_text() == "new"


def test_listing_shows_links_and_special_files_without_entering_them(work: Path) -> None:
    write_text(work, "a/b.py", "12345")
    write_text(work, ".git/config", "x")
    (work / "link").symlink_to(work.parent)
    os.mkfifo(work / "pipe")
    listed = list_tree(work, skip=frozenset({".git"}))
    assert listed == [FileEntry("link", "symlink"), FileEntry("pipe", "other"), FileEntry("a/b.py", "file", 5)]
    assert list_tree(work, "a") == [FileEntry("a/b.py", "file", 5)]
    assert len(list_tree(work, limit=1)) == 1
    with pytest.raises(WorkspaceEscape):
        list_tree(work, "link")


def test_clear_dir_removes_everything_but_what_links_point_to(work: Path) -> None:
    outside = work.parent / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    write_text(work, "deep/er/file.txt", "x")
    (work / "deep" / "link").symlink_to(outside)
    os.mkfifo(work / "pipe")
    clear_dir(work)
    assert list(work.iterdir()) == [] and (outside / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("planted", ["link to a folder", "folder holding a link", "locked folder", "fifo", "nothing"])
def test_remove_takes_what_is_there_and_never_what_a_link_points_to(work: Path, planted: str) -> None:
    outside = work.parent / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    target = work / "kernel"
    if planted == "link to a folder":
        target.symlink_to(outside)
    elif planted == "folder holding a link":
        (target / "sub").mkdir(parents=True)
        (target / "sub" / "out").symlink_to(outside)
    elif planted == "locked folder":
        (target / "sub").mkdir(parents=True)
        (target / "sub" / "a.py").write_text("a")
        (target / "sub").chmod(0)
    elif planted == "fifo":
        os.mkfifo(target)
    remove(work, "kernel")
    assert not os.path.lexists(target) and (outside / "keep.txt").read_text() == "keep"
    with pytest.raises(WorkspaceEscape):
        remove(work, "../outside")


def test_clear_dir_holds_one_descriptor_whatever_the_depth(work: Path) -> None:
    """A candidate can nest folders deeper than the host's open-file limit."""
    deep = work.joinpath(*["d"] * 300)
    deep.mkdir(parents=True)
    (deep / "f").write_text("x")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 32, hard))
    try:
        clear_dir(work)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert list(work.iterdir()) == []


def _as_unprivileged(action: Callable[[Path], object]) -> object:
    """Run ``action`` on a fresh folder as a user the kernel holds to permissions.

    As root (CI) the kernel ignores permission bits, so a forked child drops to uid
    65534 first; the folder is that uid's own, as the work tree is the sandbox's.
    """
    folder = Path(tempfile.mkdtemp())
    if os.getuid() != 0:
        return action(folder)
    os.chown(folder, NOBODY, NOBODY)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            try:
                outcome: object = ("ok", action(folder))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                outcome = ("error", f"{type(exc).__name__}: {exc}")
            os.write(write_end, pickle.dumps(outcome))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        kind, value = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    assert kind == "ok", value
    return value


def _hostile_permissions(folder: Path) -> list[str]:
    """What a sandboxed command running as the folder's owner can leave behind."""
    (folder / "trap" / "inner").mkdir(parents=True)
    (folder / "trap" / "inner" / "f").write_text("x")
    (folder / "trap" / "inner").chmod(0)
    (folder / "trap").chmod(0o500)
    (folder / "solution.py").write_text("candidate")
    (folder / "solution.py").chmod(0o444)
    (folder / "pkg").mkdir()
    (folder / "pkg" / "mod.py").write_text("x")
    (folder / "pkg").chmod(0)
    folder.chmod(0o500)
    write_text(folder, "solution.py", "best version", replace=True)
    write_text(folder, "pkg/mod.py", "restored")
    restored = [read_text(folder, "solution.py"), read_text(folder, "pkg/mod.py")]
    clear_dir(folder)
    return restored + sorted(os.listdir(folder))


def test_hostile_permissions_never_stop_a_restore_or_a_reset() -> None:
    assert _as_unprivileged(_hostile_permissions) == ["best version", "restored"]
