"""The GPU device rule: no process that can write host files may hold the device group.

A session holding a GPU lease runs as the tenant's uid with the host's ``gpu_group``
added, so the GPUs open inside. Its workspace is the tenant's own host folder, mounted
read-write: ``cp /bin/sh t; chgrp <gpu gid> t; chmod 2755 t`` inside a call would leave
a setgid-``gpu_group`` program there, and run from the host it would open every
``/dev/nvidia*`` outside any lease. A setgid bit takes effect only where the file is
executed from a mount that allows it, so before leasing the broker checks every
writable mount it hands the container: the mount itself must be ``nosuid``
(``fstatvfs`` on the pinned descriptor) and so must every other mount of the same
filesystem in the mount table (found by device ``major:minor``), since the same file is
reachable through each of them (a suid ``/`` above a nosuid bind mount would do).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PolicyError

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo``: what the rule needs of it."""

    mount_id: int
    device: str  # major:minor of the filesystem
    mount_point: str
    nosuid: bool


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def mount_table(text: str) -> list[MountEntry]:
    """The entries of a mountinfo text (per-mount options: field 6)."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 6:
            continue
        entries.append(MountEntry(int(fields[0]), fields[2], _unescape(fields[4]), "nosuid" in fields[5].split(",")))
    return entries


def _mount_id(fd: int) -> int:
    """The id of the mount ``fd`` was opened through (``mnt_id`` of its fdinfo)."""
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("mnt_id:"):
            return int(line.split()[1])
    raise OSError(f"no mnt_id in /proc/self/fdinfo/{fd}")


def suid_routes(own: MountEntry, own_nosuid: bool, table: list[MountEntry]) -> list[str]:
    """Mount points through which a file on mount ``own`` could run with its setuid/setgid
    bits: ``own`` unless ``own_nosuid``, and every suid mount of the same filesystem."""
    routes = [] if own_nosuid else [own.mount_point]
    routes += [entry.mount_point for entry in table
               if entry.device == own.device and not entry.nosuid and entry.mount_point not in routes]
    return routes


def _routes_of(fd: int, table: list[MountEntry]) -> list[str]:
    own = next((entry for entry in table if entry.mount_id == _mount_id(fd)), None)
    if own is None:
        raise PolicyError("the mount of a workspace is not in the broker's mount table: refusing the GPU lease")
    return suid_routes(own, bool(os.fstatvfs(fd).f_flag & os.ST_NOSUID), table)


def require_nosuid(writable: Iterable[Path]) -> None:
    """PolicyError unless every writable mount (a broker-owned pin) is reachable only nosuid.

    Called before a GPU lease: the refusal names the admin step that allows it.
    """
    table = mount_table(MOUNTINFO.read_text())
    for path in writable:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            routes = _routes_of(fd, table)
        finally:
            os.close(fd)
        if routes:
            raise PolicyError(
                "GPU lease refused: your workspace lies on a filesystem that is also mounted with setuid "
                f"allowed (at {', '.join(routes)}), so a setgid file a GPU call wrote there would open the "
                "GPUs from the host. Put the workspace under a root the host admin mounted nosuid, on its "
                "own filesystem (docs/multi-tenant.md, 'Set-up on a fresh machine (as root)', step 6: mount workspace roots nosuid)")
