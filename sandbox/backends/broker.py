"""The broker backend: calls go to the host's ``avo-sandboxd``, never to Docker directly.

For tenants of a multi-tenant host, who have no access to the Docker socket. A
``BrokerBackend`` holds one connection for the run: the run session, its GPU leases
and its warm pool live exactly as long as it does, so a client that dies, however it
dies, loses its containers and leases. A broker that restarts or stops ends the
session; calls then fail at once with a clear error instead of hanging.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BrokerUnavailable, SandboxError
from ..policy import SandboxPolicy
from ..result import ExecResult
from ..broker.protocol import ERROR_KINDS, encode_stdin, receive, send
from .base import LABEL_PURPOSE, LABEL_RUN, Command


def _print_notice(text: str) -> None:
    sys.stderr.write(f"avo-sandboxd: {text}\n")
    sys.stderr.flush()


def connect_unix(path: str) -> socket.socket:
    """A stream connection to ``path``: the broker identifies whoever called ``connect``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


class BrokerConnection:
    """Requests and replies with the broker, relaying its notices (waits) as they come."""

    def __init__(self, path: str, on_notice: Callable[[str], None] = _print_notice) -> None:
        self._path = path
        self._on_notice = on_notice
        self._lock = threading.Lock()
        try:
            self._sock = connect_unix(path)
        except PermissionError:
            raise BrokerUnavailable(f"you may not connect to the sandbox broker at {path}: join its group "
                                    f"(`usermod -aG avo-tenants $USER`, then log in again)") from None
        except OSError as exc:
            raise BrokerUnavailable(f"no sandbox broker answers at {path} ({exc.strerror}): ask the host admin "
                                    f"to start it (`systemctl start avo-sandboxd`), or set sandbox.broker_socket "
                                    f"to its socket") from None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request; its reply, or the broker's refusal raised as the matching error."""
        with self._lock:
            try:
                send(self._sock, message)
            except OSError:
                pass  # the broker may have refused the frame part-way: its reply says why
            try:
                while (reply := receive(self._sock)) is not None and "notice" in reply:
                    self._on_notice(str(reply["notice"]))
            except OSError:
                reply = None
        if reply is None:
            raise BrokerUnavailable(f"the sandbox broker at {self._path} closed the connection (restarted or "
                                    f"stopped?): this run's containers and GPU leases are gone; rerun, or "
                                    f"resume with `avo run CONFIG --resume`")
        if not reply.get("ok"):
            raise ERROR_KINDS.get(str(reply.get("error")), SandboxError)(str(reply.get("message")))
        return reply

    def close(self) -> None:
        self._sock.close()


def _requested_policy(policy: SandboxPolicy) -> dict[str, Any]:
    """The policy as the broker gets it: allow-listed variables resolved here, from the
    caller's environment (the broker's own environment must never reach a container)."""
    env = {name: os.environ[name] for name in policy.env_allowlist if name in os.environ}
    env.update(policy.env)
    mounts = [m.model_copy(update={"host": Path(m.host).resolve()}) for m in policy.read_only_mounts]
    resolved = policy.model_copy(update={"env": env, "env_allowlist": [], "read_only_mounts": mounts})
    return resolved.model_dump(mode="json")


class BrokerBackend:
    """A run session with the host's broker; one fresh container per call, as with docker."""

    def __init__(self, policy: SandboxPolicy, workspace: Path, labels: dict[str, str], *,
                 lease_group: str | None = None) -> None:
        """``lease_group``: sessions of this tenant with the same group share one GPU lease,
        held while any of them is open (default: the run id, so a run's shell and scoring
        sandboxes share theirs; parallel agents pass ``f"{run_id}/agent{i}"``)."""
        self._connection = BrokerConnection(policy.broker_socket)
        request = {"kind": "open", "policy": _requested_policy(policy), "workspace": str(workspace),
                   "run_id": labels[LABEL_RUN], "purpose": labels[LABEL_PURPOSE]}
        if lease_group is not None:
            request["lease_group"] = lease_group
        try:
            opened = self._connection.request(request)
        except BaseException:
            self._connection.close()
            raise
        self.session = str(opened["session"])
        self.gpus: list[str] = list(opened.get("gpus", []))
        self._closed = False

    def run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        reply = self._connection.request({
            "kind": "run", "command": command if isinstance(command, str) else list(command),
            "stdin_b64": encode_stdin(stdin), "timeout_s": timeout_s})
        return ExecResult.model_validate(reply["result"])

    def close(self) -> None:
        """End the session (containers removed, leases ended) before returning; safe twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._connection.request({"kind": "close"})
        except SandboxError:
            pass  # the broker is gone: it ended the session itself
        finally:
            self._connection.close()


def broker_request(path: str, message: dict[str, Any]) -> dict[str, Any]:
    """One session-less request (``status``, ``gc``) on a connection of its own."""
    connection = BrokerConnection(path)
    try:
        return connection.request(message)
    finally:
        connection.close()
