"""Tenant paths checked without following links, then pinned where the tenant cannot reach.

Two steps close the two holes a path string leaves open:

1. **Check** (:func:`open_checked`): the path is opened one component at a time from
   ``/`` with ``O_PATH | O_NOFOLLOW`` relative to the previous component's descriptor,
   so a symlink anywhere (even one swapped in mid-walk) ends the walk instead of moving
   it. What is finally open must lie under one of the tenant's workspace roots, be a
   directory or a regular file, and belong to the caller.
2. **Pin** (:class:`MountPins`): dockerd would resolve the path *string* again when it
   creates the container, so it never gets that string. The broker bind-mounts the
   checked descriptor (``/proc/self/fd/N``, which names the inode, not a path) onto an
   empty file or folder under its own root-owned state folder and hands dockerd that
   path instead. Renaming or replacing the tenant's path afterwards moves nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
from pathlib import Path

from ..errors import PolicyError
from .folders import make_folder

_WALK = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
MS_BIND = 0x1000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _components(path: str) -> list[str]:
    if "\0" in path:
        raise PolicyError(f"mount path {path!r} contains a NUL byte")
    if not path.startswith("/"):
        raise PolicyError(f"mount path {path!r} must be absolute")
    parts = path.split("/")[1:]
    if path != "/" and any(part in ("", ".", "..") for part in parts):
        raise PolicyError(f"mount path {path!r} must be normalised (no '.', '..' or '//')")
    return [part for part in parts if part]


def _under(parts: list[str], roots: list[str]) -> bool:
    return any(parts[: len(root)] == root for root in (_components(r) for r in roots))


def open_checked(path: str, roots: list[str], uid: int, *, directory: bool) -> int:
    """An ``O_PATH`` descriptor of ``path`` once it passed every check; PolicyError says which failed.

    ``directory`` demands a folder (a workspace); otherwise a folder or a regular file.
    The caller closes the descriptor.
    """
    parts = _components(path)
    if not roots:
        raise PolicyError("the host policy gives you no workspace roots: ask the host admin "
                          "to add workspace_roots to your entry in /etc/avo/sandboxd.yaml")
    if not _under(parts, roots):
        raise PolicyError(f"{path} is outside your workspace roots ({', '.join(roots)}): "
                          f"put the workspace under one of them")
    fd = os.open("/", _WALK | os.O_DIRECTORY)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                child = os.open(part, _WALK | (0 if last else os.O_DIRECTORY), dir_fd=fd)
            except OSError as exc:
                where = "/" + "/".join(parts[: index + 1])
                if exc.errno == errno.ENOTDIR:
                    raise PolicyError(f"{where} is a symlink or not a folder: mount paths are "
                                      f"resolved without following symlinks; give the real path") from None
                raise PolicyError(f"cannot open {where}: {exc.strerror}") from None
            os.close(fd)
            fd = child
        info = os.fstat(fd)
        if stat.S_ISLNK(info.st_mode):
            raise PolicyError(f"{path} is a symlink: mount paths are resolved without following "
                              f"symlinks; give the real path")
        if directory and not stat.S_ISDIR(info.st_mode):
            raise PolicyError(f"{path} is not a folder")
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            raise PolicyError(f"{path} is neither a folder nor a regular file")
        if info.st_uid != uid:
            raise PolicyError(f"{path} is not yours (owner uid {info.st_uid}): only your own "
                              f"files and folders can be mounted")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _mount(source: str, target: str, flags: int) -> None:
    if _libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {source} on {target}: {os.strerror(code)}")


def _unmount(target: Path) -> None:
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL,
                                                                                            errno.ENOENT):
        code = ctypes.get_errno()
        raise OSError(code, f"umount {target}: {os.strerror(code)}")


class MountPins:
    """Bind mounts of checked descriptors under a root-owned folder, one subfolder per session."""

    def __init__(self, state_dir: Path) -> None:
        self._root = state_dir / "mounts"

    def pin(self, fd: int, session: str, name: str) -> Path:
        """Bind-mount the inode behind ``fd`` at a broker-owned path, which dockerd then gets.

        The state folder, ``mounts/`` and the session's folder are root's alone (0700,
        whatever the umask): no tenant lists another's session ids or reaches a pin.
        """
        make_folder(self._root.parent)
        make_folder(self._root)
        folder = make_folder(self._root / session)
        target = folder / name
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            make_folder(target)
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
            os.chmod(target, 0o600)
        _mount(f"/proc/self/fd/{fd}", str(target), MS_BIND)
        return target

    def release(self, session: str) -> None:
        """Unmount and remove one session's pins (detached: a dying container may still hold one)."""
        folder = self._root / session
        if not folder.is_dir():
            return
        for entry in folder.iterdir():
            _unmount(entry)
            # rmdir/unlink, never rmtree: should an unmount have failed, removing the
            # empty mount point fails too (EBUSY), instead of deleting the tenant's files.
            try:
                entry.rmdir() if entry.is_dir() else entry.unlink()
            except OSError:
                pass
        try:
            folder.rmdir()
        except OSError:
            pass

    def sweep(self) -> int:
        """Release every session's pins (those a killed broker left); returns how many sessions."""
        if not self._root.is_dir():
            return 0
        sessions = [entry.name for entry in self._root.iterdir()]
        for session in sessions:
            self.release(session)
        return len(sessions)
