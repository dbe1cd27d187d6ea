"""The broker's wire protocol: length-prefixed JSON messages on a Unix stream socket.

Shared by ``avo-sandboxd`` and its client (stdlib and pydantic only). The interface is
narrow on purpose, not a Docker API proxy: a connection opens at most one run
session (``open``), makes calls in it (``run``) and closes it (``close``, or by
hanging up, however the client dies); ``status`` and ``gc`` need no session.

Every request gets exactly one reply, ``{"ok": true, ...}`` or ``{"ok": false,
"error": KIND, "message": ...}``, possibly preceded by notices (``{"notice": ...}``)
while the broker waits on the caller's behalf (a busy GPU, a full container quota).
"""

from __future__ import annotations

import base64
import json
import socket
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import errors

#: A message larger than this is refused (a call's stdin plus framing; results are capped).
MAX_MESSAGE = 64 * 2**20
_HEADER = 4
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$"
_GROUP = r"^[A-Za-z0-9][A-Za-z0-9_.:@+/-]{0,255}$"


class OpenSession(BaseModel):
    """Open the connection's run session: policy (validated by the broker), workspace, labels."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["open"]
    policy: dict[str, Any]
    workspace: str
    run_id: str = Field(pattern=_NAME)
    purpose: str = Field(pattern=_NAME)
    #: Sessions of one tenant with the same group share one GPU lease, held while any of
    #: them is open (default: the run id; parallel agents use ``{run_id}/agent{i}``).
    lease_group: str | None = Field(default=None, pattern=_GROUP)


class RunCall(BaseModel):
    """One command in the session's next fresh container."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["run"]
    command: list[str] | str
    stdin_b64: str | None = None  # base64 of the raw bytes: 4/3 of their size, where JSON escapes take 6x
    timeout_s: float | None = Field(default=None, gt=0)


class CloseSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["close"]


class Status(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["status"]


class Collect(BaseModel):
    """Remove the caller's own containers (all, or one run's)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["gc"]
    run_id: str | None = Field(default=None, pattern=_NAME)


class Envelope(BaseModel):
    request: Annotated[OpenSession | RunCall | CloseSession | Status | Collect, Field(discriminator="kind")]


#: Error kinds a reply may carry, and the exception the client raises for each.
ERROR_KINDS: dict[str, type[errors.SandboxError]] = {
    cls.__name__: cls for cls in (errors.PolicyError, errors.GpuUnavailable, errors.ImageMissing,
                                  errors.DockerUnavailable, errors.ContainerFault, errors.SandboxClosed)
}


def error_reply(exc: BaseException) -> dict[str, Any]:
    kind = type(exc).__name__ if type(exc).__name__ in ERROR_KINDS else "SandboxError"
    return {"ok": False, "error": kind, "message": str(exc)}


def encode_stdin(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def decode_stdin(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


def frame(message: dict[str, Any]) -> bytes:
    """One message as it goes on the wire: a 4-byte big-endian length, then the JSON."""
    data = json.dumps(message, separators=(",", ":")).encode()
    return len(data).to_bytes(_HEADER, "big") + data


def send(connection: socket.socket, message: dict[str, Any]) -> None:
    data = frame(message)
    if len(data) - _HEADER > MAX_MESSAGE:
        raise errors.PolicyError(f"this request is {len(data) - _HEADER} bytes once framed, the broker takes at "
                                 f"most {MAX_MESSAGE} (stdin over about {MAX_MESSAGE * 3 // 4 // 2**20} MiB): "
                                 f"pass large data through the workspace instead")
    connection.sendall(data)


def _exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 2**20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(connection: socket.socket) -> dict[str, Any] | None:
    """The next message, or None when the peer hung up (or sent something that is not one)."""
    header = _exactly(connection, _HEADER)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size > MAX_MESSAGE:
        return None
    body = _exactly(connection, size)
    if body is None:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
