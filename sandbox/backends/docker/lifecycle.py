"""A docker call's life: start (or take warm), deliver, pump, judge the exit, remove.

``DockerBackend`` is the sandbox's default backend: one fresh, hardened container
per call (options from :mod:`.options`, protocol from :mod:`.wire`), optionally
started ahead of time by a warm pool. The deadline kills the whole container.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from pathlib import Path

import docker
import docker.errors
import requests

from ...capture import CappedBuffer, pump
from ...errors import PolicyError, SandboxClosed, SandboxError
from ...gpu import require_gpu_host
from ...policy import SandboxPolicy
from ...result import EXIT_OOM, EXIT_TIMEOUT, ExecResult
from ...warm_pool import WarmPool
from ..base import Command, shell_script
from .engine import GVISOR_FIX, connect, engine_errors, engine_runtimes, require_image
from .options import Placement, container_options
from .sweep import remove_labelled
from .wire import Demux, StartedContainer, StatusLine, deliver, frame

log = logging.getLogger("avo.sandbox")

#: How long past a deadline to wait for the engine to confirm a killed container's exit.
WAIT_GRACE_S = 5.0


def give_workspace_to(user: str, workspace: Path) -> None:
    """When the host user is root, hand the workspace tree to the sandbox uid:gid so the
    unprivileged container can write it (root on the host can still read and write it)."""
    if os.getuid() != 0 or not user.replace(":", "").isdigit():
        return
    uid, _, gid = user.partition(":")
    owner = (int(uid), int(gid or uid))
    for root, dirs, files in os.walk(workspace):
        for path in [root, *(os.path.join(root, name) for name in dirs + files)]:
            stat = os.lstat(path)
            if (stat.st_uid, stat.st_gid) != owner:
                os.lchown(path, *owner)


class DockerBackend:
    """One fresh, hardened container per call; optionally started ahead by a warm pool.

    The broker opens one per tenant session with a ``placement`` of its choosing and
    ``hand_over_workspace=False``: a root process must never chown a tree a tenant can
    change under it (the container already runs as the tenant, who owns the workspace).
    """

    def __init__(self, policy: SandboxPolicy, workspace: Path, labels: dict[str, str], *,
                 placement: Placement = Placement(), hand_over_workspace: bool = True) -> None:
        self._policy = policy
        self._workspace = workspace
        self._placement = placement
        self._hand_over = hand_over_workspace
        self._client = connect()
        self._api = self._client.api
        try:
            self._open(policy, workspace, labels)
        except BaseException:
            self._client.close()
            raise

    def _open(self, policy: SandboxPolicy, workspace: Path, labels: dict[str, str]) -> None:
        """Check the host can honour the policy, sweep dead processes' containers, fill the pool."""
        runtimes = engine_runtimes(self._client)
        if policy.runtime and policy.runtime not in runtimes:
            how = GVISOR_FIX if policy.runtime == "runsc" else "register it with dockerd"
            raise PolicyError(f"runtime {policy.runtime!r} is not registered with dockerd (it has "
                              f"{', '.join(runtimes)}): {how}; or unset sandbox.runtime")
        require_gpu_host(policy.gpus, runtimes)
        require_image(self._client, policy.image)
        self._options = container_options(policy, workspace, labels, self._api.api_version, self._placement)
        self._user = self._options["user"]
        self._live: set[str] = set()
        self._live_lock = threading.Lock()
        self._closed = False
        remove_labelled(self._client)  # every dead process's leftovers, whatever their run
        self._pool: WarmPool[StartedContainer] | None = None
        if policy.pool_size:
            self._pool = WarmPool(policy.pool_size, self._start, self._dispose)

    @property
    def options(self) -> dict:
        """The create options every call's container gets (what the broker asks dockerd for)."""
        return self._options

    def run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        """One call; SandboxClosed when close() ended it (whatever the engine then said)."""
        try:
            result = self._run(command, stdin=stdin, timeout_s=timeout_s)
        except SandboxError:
            if self._closed:
                raise SandboxClosed("the sandbox was closed during the call") from None
            raise
        if self._closed:
            raise SandboxClosed("the sandbox was closed during the call")
        return result

    def _run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        script = shell_script(command).encode()
        if self._hand_over:
            give_workspace_to(self._user, self._workspace)
        with engine_errors(self._policy.image):
            pool = self._pool
            pooled = pool.take() if pool else None
            container = pooled or self._start()
            succeeded = False
            try:
                result = self._execute(container, script, stdin or b"", timeout_s)
                succeeded = True
                return result
            finally:
                # After a normal call the pool's worker removes its container off the hot
                # path; after a fault or an interrupt it is removed here, before unwinding.
                if pool and pooled:
                    pool.retire(pooled, now=not succeeded)
                else:
                    self._dispose(container)

    def close(self) -> None:
        """Remove every container this backend started (warm, retired, even one in flight,
        whose call then ends), then drop the connection; safe to call twice."""
        with self._live_lock:
            if self._closed:
                return
            self._closed = True
        if self._pool:
            self._pool.close()
        with self._live_lock:
            leftovers, self._live = list(self._live), set()
        for container_id in leftovers:
            self._force_remove(container_id)
        self._client.close()

    def _start(self) -> StartedContainer:
        """Create, attach (before start, so no output is ever missed) and start a container."""
        with engine_errors(self._policy.image):
            created = self._api.create_container(**self._options)
            with self._live_lock:
                closed = self._closed
                if not closed:
                    self._live.add(created["Id"])
            if closed:  # close() ran meanwhile and will not see this one
                self._force_remove(created["Id"])
                raise SandboxClosed("the sandbox was closed while a container was starting")
            try:
                stream = self._api.attach_socket(
                    created["Id"], params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
                container = StartedContainer(created["Id"], stream)
                self._api.start(created["Id"])
            except BaseException:
                self._remove(created["Id"])
                raise
            return container

    def _dispose(self, container: StartedContainer) -> None:
        container.close()
        self._remove(container.id)

    def _remove(self, container_id: str) -> None:
        """Remove one of this backend's containers, unless close() already did."""
        with self._live_lock:
            if container_id not in self._live:
                return
            self._live.discard(container_id)
        self._force_remove(container_id)

    def _force_remove(self, container_id: str) -> None:
        """Remove whatever state the container is in; a failure is logged, never raised,
        so it cannot mask the call's result (the next start's sweep removes what is left)."""
        try:
            self._api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.warning("could not remove sandbox container %s: %s", container_id[:12], exc)

    def _execute(self, container: StartedContainer, script: bytes, stdin: bytes,
                 timeout_s: float) -> ExecResult:
        limit = self._policy.output_limit_bytes
        stdout, stderr = CappedBuffer(limit), CappedBuffer(limit)
        token = secrets.token_hex(16)
        status_line = StatusLine(token, stderr.write)
        started = time.monotonic()
        deadline = started + timeout_s
        payload = frame(script, token, stdin)
        threading.Thread(target=deliver, args=(container, payload), name="avo-call", daemon=True).start()
        finished = pump({container.socket.fileno(): Demux(stdout.write, status_line.write).feed}, deadline)
        reported = status_line.close()
        if not finished:
            exit_code = None
        elif reported is not None and reported != EXIT_OOM:
            exit_code = reported  # the engine's own bookkeeping goes on off the hot path
        else:
            exit_code = self._engine_exit(container.id, deadline)
        timed_out = exit_code is None
        if timed_out:
            self._kill(container.id)
            self._engine_exit(container.id, time.monotonic() + WAIT_GRACE_S)
        oom_killed = exit_code == EXIT_OOM and self._oom_killed(container.id)
        return ExecResult(
            exit_code=EXIT_TIMEOUT if timed_out else exit_code,
            stdout=stdout.text(), stderr=stderr.text(),
            stdout_truncated=stdout.truncated, stderr_truncated=stderr.truncated,
            duration_s=time.monotonic() - started,
            timed_out=timed_out, oom_killed=oom_killed, container_id=container.id,
        )

    def _engine_exit(self, container_id: str, until: float) -> int | None:
        """The exit status the engine records, or None if it has none by ``until``."""
        remaining = until - time.monotonic()
        if remaining <= 0:
            return None
        try:
            return int(self._api.wait(container_id, timeout=remaining)["StatusCode"])
        except (docker.errors.DockerException, requests.RequestException):
            return None  # e.g. ReadTimeout, or ConnectionError past the deadline

    def _kill(self, container_id: str) -> None:
        """Kill the whole container: every process of the call dies with its PID namespace."""
        try:
            self._api.kill(container_id)
        except docker.errors.APIError:
            pass  # already gone or stopped: either way nothing of the call runs any more

    def _oom_killed(self, container_id: str) -> bool:
        return bool(self._api.inspect_container(container_id)["State"].get("OOMKilled"))
