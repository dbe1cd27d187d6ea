"""Host access to files under one root that something untrusted may have written.

The roots are the agent's work tree and the scoring folder (both writable from
inside the sandbox) and the knowledge base. Every host-side read, write, listing
and clean-up of them goes through this module, under one rule set:

1. **Names.** A path is relative and plain: no NUL byte, nothing absolute (POSIX,
   Windows or ``~``), no ``..`` component.
2. **Links are never followed.** Every component is opened relative to its parent's
   descriptor with ``O_NOFOLLOW``, so a symlink anywhere on the path is refused,
   including one swapped in while the path is being walked.
3. **Only regular files and folders are opened, and nothing blocks.** FIFOs,
   sockets and devices are refused from their ``lstat`` without being opened, and
   every open is ``O_NONBLOCK`` besides, so nothing planted (``mkfifo`` through the
   sandboxed shell) can hang the host.
4. **Writes never go through anything.** A file is written next to its target and
   renamed over it, so even a read-only file is replaced, never written through.
   A link, FIFO, socket or device at the target is refused, unless the caller asks
   to ``replace`` it (the runner putting the best version back: restoring always
   wins). Missing parent folders are created.
5. **Hostile permissions are undone.** A folder or file of the host user's own that
   the sandbox made unusable (``chmod 000``, ``chmod 444``: the sandbox runs as the
   host user's uid unless the host user is root) gets its owner's permissions back
   before the access is retried, so resetting and restoring always win.

Refusals raise :class:`~orchestrator.errors.WorkspaceEscape` (a ``PermissionError``);
a missing file raises ``FileNotFoundError`` and a folder where a file is expected
``IsADirectoryError``. Linux only (``O_PATH`` and ``/proc/self/fd``), like the sandbox.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal, TypeVar

from orchestrator.errors import WorkspaceEscape

__all__ = ["MAX_TEXT_BYTES", "FileEntry", "clear_dir", "entry", "list_tree", "read_bytes", "read_text", "remove",
           "write_bytes", "write_text"]

#: The largest file read whole (a larger solution is refused rather than committed).
MAX_TEXT_BYTES = 4 * 1024 * 1024

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OWNER_DIR = stat.S_IRWXU
_OWNER_FILE = stat.S_IRUSR | stat.S_IWUSR

Kind = Literal["file", "dir", "symlink", "other"]
T = TypeVar("T")


@dataclass(frozen=True)
class FileEntry:
    """One thing under a root: its relative POSIX path, what it is, and (files) its size."""

    path: str
    kind: Kind
    size: int = 0


def read_bytes(root: Path, relative: str, *, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """A regular file's bytes; refused when it is larger than ``max_bytes``."""
    data = _read(root, relative, max_bytes + 1)
    if len(data) > max_bytes:
        raise WorkspaceEscape(f"{relative} is larger than {max_bytes} bytes; refused")
    return data


def read_text(root: Path, relative: str, *, max_bytes: int = MAX_TEXT_BYTES, lenient: bool = False) -> str:
    """A regular file's UTF-8 text.

    Strict (the default, for what is committed or scored): a larger file or one that is
    not UTF-8 is refused. ``lenient`` (for showing files to the model): undecodable bytes
    are replaced and a larger file is cut at ``max_bytes`` with a marker.
    """
    if not lenient:
        try:
            return read_bytes(root, relative, max_bytes=max_bytes).decode("utf-8")
        except UnicodeDecodeError:
            raise WorkspaceEscape(f"{relative} is not UTF-8 text; refused") from None
    data = _read(root, relative, max_bytes + 1)
    text = data[:max_bytes].decode("utf-8", errors="replace")
    if len(data) > max_bytes:
        text += f"\n[... file larger than {max_bytes} bytes, rest not read ...]"
    return text


def write_bytes(root: Path, relative: str, data: bytes, *, replace: bool = False) -> None:
    """Create or replace a regular file under ``root`` (parents created, nothing followed).
    Whatever else sits at its path (a link, a FIFO) is refused, or replaced when ``replace``."""
    parts = _parts(relative)
    if not parts:
        raise IsADirectoryError(f"{relative!r} names the root folder, not a file")
    with _directory(root, parts[:-1], create=True) as folder:
        name = parts[-1]
        found = _lstat(folder, name)
        if found is not None and stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(f"{relative} is a folder")
        if found is not None and not replace:
            _refuse_unless(found, relative, stat.S_ISREG, "a regular file")
        temporary = f".{name[:200]}.avo-{secrets.token_hex(4)}"
        fd = _retrying(folder, lambda: os.open(temporary, _CREATE_FLAGS, 0o644, dir_fd=folder))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            _unlink_quietly(folder, temporary)
            raise


def write_text(root: Path, relative: str, text: str, *, replace: bool = False) -> None:
    """:func:`write_bytes` of ``text`` in UTF-8."""
    write_bytes(root, relative, text.encode("utf-8"), replace=replace)


def entry(root: Path, relative: str) -> FileEntry | None:
    """What ``relative`` is (without following it), or None when nothing is there."""
    parts = _parts(relative)
    if not parts:
        return FileEntry(".", "dir")
    try:
        with _directory(root, parts[:-1]) as folder:
            found = _lstat(folder, parts[-1])
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if found is None else _entry(PurePosixPath(*parts).as_posix(), found)


def list_tree(root: Path, relative: str = ".", *, skip: frozenset[str] = frozenset(),
              limit: int | None = None) -> list[FileEntry]:
    """Everything under the folder ``relative``, a folder's own entries (in name order)
    before its sub-folders', folders not listed themselves; links are listed as links and never entered; folders named in
    ``skip`` and unreadable folders are left out. At most ``limit`` entries."""
    parts = _parts(relative)
    prefix = PurePosixPath(*parts) if parts else PurePosixPath()
    found: list[FileEntry] = []
    with _directory(root, parts) as top:
        for current, dirs, files, folder in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            dirs.sort()
            keep = []
            for name in sorted(files + dirs):
                status = _lstat(folder, name)
                if status is None:
                    continue
                if stat.S_ISDIR(status.st_mode):
                    if name not in skip:
                        keep.append(name)
                    continue
                found.append(_entry((prefix / current / name).as_posix(), status))
                if limit is not None and len(found) >= limit:
                    return found
            dirs[:] = [name for name in dirs if name in keep]
    return found


def remove(root: Path, relative: str) -> None:
    """Remove what is at ``relative``: a folder with everything in it, anything else (a link
    itself, never what it points to) unlinked. Nothing there is fine."""
    parts = _parts(relative)
    if not parts:
        raise IsADirectoryError(f"{relative!r} names the root folder; use clear_dir")
    try:
        with _directory(root, parts[:-1]) as folder:
            name = parts[-1]
            found = _lstat(folder, name)
            if found is None:
                return
            if stat.S_ISDIR(found.st_mode):
                clear_dir(root, relative)
                _retrying(folder, lambda: os.rmdir(name, dir_fd=folder))
            else:
                _retrying(folder, lambda: os.unlink(name, dir_fd=folder))
    except FileNotFoundError:
        return


def clear_dir(root: Path, relative: str = ".") -> None:
    """Remove everything inside ``root`` or its folder ``relative`` (kept itself: a warm
    container may have it mounted), giving the host user's own folders their permissions back where the sandbox took them.

    One descriptor is held at a time, whatever the depth (a candidate can nest folders
    deeper than the host's open-file limit): the walk climbs back through ``..`` and checks
    it arrives in the very folder it left, so a folder moved meanwhile is never followed out.
    """
    with _directory(root, _parts(relative)) as top:
        _reclaim_fd(top)
        fd = os.dup(top)
        # per level: the names still to remove, and (for levels below the root) the folder's
        # own name with the identity of the parent it was entered from
        levels: list[tuple[list[str], tuple[str, tuple[int, int]] | None]] = [(os.listdir(fd), None)]
        try:
            while levels:
                names, entered = levels[-1]
                if names:
                    name = names.pop()
                    found = _lstat(fd, name)
                    if found is None:
                        continue
                    if not stat.S_ISDIR(found.st_mode):
                        os.unlink(name, dir_fd=fd)
                        continue
                    parent = os.fstat(fd)
                    child = _open_dir(fd, name)
                    os.close(fd)
                    fd = child
                    _reclaim_fd(fd)
                    levels.append((os.listdir(fd), (name, (parent.st_dev, parent.st_ino))))
                    continue
                levels.pop()
                if entered is None:
                    continue
                name, identity = entered
                parent_fd = os.open("..", _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = parent_fd
                here = os.fstat(fd)
                if (here.st_dev, here.st_ino) != identity:
                    raise WorkspaceEscape(f"{name} was moved while it was being emptied; refused")
                os.rmdir(name, dir_fd=fd)
        finally:
            os.close(fd)


# --- the walk -------------------------------------------------------------------------------

def _parts(relative: str) -> tuple[str, ...]:
    """The components of a plain relative path (rule 1); ``()`` for the root itself."""
    if not isinstance(relative, str):
        raise WorkspaceEscape(f"path must be a string, got {type(relative).__name__}")
    if "\x00" in relative:
        raise WorkspaceEscape("path contains a NUL byte")
    text = relative.strip() or "."
    if text.startswith(("/", "~")) or PureWindowsPath(text).is_absolute():
        raise WorkspaceEscape(f"absolute path refused: {relative!r}; use a path relative to the workspace")
    parts = PurePosixPath(text).parts
    if ".." in parts:
        raise WorkspaceEscape(f"'..' refused in {relative!r}; use a path inside the workspace")
    return tuple(part for part in parts if part != ".")


@contextmanager
def _directory(root: Path, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
    """A descriptor of the folder ``root/parts``, walked without following anything (rule 2).
    The root itself comes from the configuration and is trusted (and made when ``create``)."""
    if create:
        Path(root).mkdir(parents=True, exist_ok=True)
    fd = _open_root(Path(root))
    try:
        for index, part in enumerate(parts):
            try:
                child = _open_dir(fd, part)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(f"no such folder: {PurePosixPath(*parts[:index + 1])}") from None
                _retrying(fd, lambda: os.mkdir(part, 0o755, dir_fd=fd))
                child = _open_dir(fd, part)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_root(root: Path) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        return os.open(root, flags)
    except PermissionError:
        _reclaim_path(root)
        return os.open(root, flags)


def _open_dir(parent: int, name: str) -> int:
    """Open the folder ``name`` inside ``parent``; refuses links and anything not a folder."""
    found = _lstat(parent, name)
    if found is None:
        raise FileNotFoundError(f"no such folder: {name}")
    _refuse_unless(found, name, stat.S_ISDIR, "a folder")
    try:
        return _retrying(parent, lambda: os.open(name, _DIR_FLAGS, dir_fd=parent), child=name)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link or a file since the lstat
            raise WorkspaceEscape(f"{name} changed into a link or a file while being opened; refused") from None
        raise


def _read(root: Path, relative: str, limit: int) -> bytes:
    parts = _parts(relative)
    if not parts:
        raise IsADirectoryError(f"{relative!r} is the root folder, not a file")
    with _directory(root, parts[:-1]) as folder:
        name = parts[-1]
        found = _lstat(folder, name)
        if found is None:
            raise FileNotFoundError(f"no such file: {relative}")
        if stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(f"{relative} is a folder")
        _refuse_unless(found, relative, stat.S_ISREG, "a regular file")
        try:
            fd = _retrying(folder, lambda: os.open(name, _READ_FLAGS, dir_fd=folder), child=name)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise WorkspaceEscape(f"{relative} is a symlink; refused (links are never followed)") from None
            raise
        with os.fdopen(fd, "rb") as handle:
            _refuse_unless(os.fstat(handle.fileno()), relative, stat.S_ISREG, "a regular file")
            return handle.read(limit)


def _lstat(folder: int, name: str) -> os.stat_result | None:
    try:
        return _retrying(folder, lambda: os.stat(name, dir_fd=folder, follow_symlinks=False))
    except FileNotFoundError:
        return None


def _refuse_unless(found: os.stat_result, name: str, test: Callable[[int], bool], wanted: str) -> None:
    if test(found.st_mode):
        return
    if stat.S_ISLNK(found.st_mode):
        raise WorkspaceEscape(f"{name} is a symlink; refused (links are never followed)")
    if test is stat.S_ISDIR and stat.S_ISREG(found.st_mode):
        raise NotADirectoryError(f"{name} is a file, not a folder")
    raise WorkspaceEscape(f"{name} is not {wanted} (a {_kind_word(found.st_mode)}); refused")


def _kind_word(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "regular file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else "special file"


def _entry(path: str, found: os.stat_result) -> FileEntry:
    mode = found.st_mode
    if stat.S_ISREG(mode):
        return FileEntry(path, "file", found.st_size)
    if stat.S_ISDIR(mode):
        return FileEntry(path, "dir")
    return FileEntry(path, "symlink" if stat.S_ISLNK(mode) else "other")


# --- permissions (rule 5) ---------------------------------------------------------------------

def _retrying(folder: int, action: Callable[[], T], *, child: str | None = None) -> T:
    """Run ``action``; on EACCES give ``folder`` (and ``child``) back their owner's
    permissions, if the host user owns them, and run it once more."""
    try:
        return action()
    except PermissionError:
        changed = _reclaim_fd(folder)
        if child is not None:
            changed = _reclaim_child(folder, child) or changed
        if not changed:
            raise
    return action()


def _reclaim_fd(fd: int) -> bool:
    """Owner rwx on an open folder of the host user's; True when its mode changed."""
    found = os.fstat(fd)
    if found.st_uid != os.geteuid() or stat.S_IMODE(found.st_mode) & _OWNER_DIR == _OWNER_DIR:
        return False
    os.fchmod(fd, stat.S_IMODE(found.st_mode) | _OWNER_DIR)
    return True


def _reclaim_child(folder: int, name: str) -> bool:
    """Owner permissions back on ``name`` (a folder or regular file, never a link's target):
    it is pinned with ``O_PATH|O_NOFOLLOW``, which needs no permission on it, and changed
    through ``/proc/self/fd``, so a link swapped in meanwhile is never followed."""
    try:
        pinned = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return False
    try:
        return _reclaim_pinned(pinned)
    finally:
        os.close(pinned)


def _reclaim_path(path: Path) -> None:
    try:
        pinned = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        _reclaim_pinned(pinned)
    finally:
        os.close(pinned)


def _reclaim_pinned(pinned: int) -> bool:
    found = os.fstat(pinned)
    wanted = _OWNER_DIR if stat.S_ISDIR(found.st_mode) else _OWNER_FILE if stat.S_ISREG(found.st_mode) else 0
    mode = stat.S_IMODE(found.st_mode)
    if not wanted or found.st_uid != os.geteuid() or mode & wanted == wanted:
        return False
    os.chmod(f"/proc/self/fd/{pinned}", mode | wanted)
    return True


def _unlink_quietly(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass
