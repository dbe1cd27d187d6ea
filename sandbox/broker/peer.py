"""Who is calling: the kernel's word (``SO_PEERCRED``), never anything the caller sends."""

from __future__ import annotations

import pwd
import socket
import struct
from dataclasses import dataclass

from ..errors import PolicyError
from .host_policy import account_groups

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    """A connected caller as the kernel saw it when it connected."""

    uid: int
    gid: int
    pid: int
    user: str
    groups: tuple[str, ...]

    @property
    def user_spec(self) -> str:
        """The ``uid:gid`` its containers run as."""
        return f"{self.uid}:{self.gid}"


def peer_of(connection: socket.socket) -> Peer:
    """The credentials of the process at the other end of a Unix socket."""
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        raise PolicyError(f"uid {uid} has no account on this host: the broker serves named users only") from None
    return Peer(uid=uid, gid=gid, pid=pid, user=user, groups=tuple(account_groups(user)))
