"""Disposable hardened containers through the Docker engine.

The only module of the package that imports ``docker``: the policy becomes
container options in :func:`container_options`, every ``docker.errors`` is
translated in :func:`engine_errors`, and nothing above this module holds a
Docker type.

A call's container is created and started with a tiny waiter as its first
process (under ``docker-init``). The waiter reads one framed script from the
attached stdin, runs it as its only child, writes ``<token> <status>\\n`` on
stderr when it ends and exits with the same status, so the container ends
when the command does (``docker-init`` then kills whatever the command left
behind). Because start-up happens before the command is known, a warm pool
can start containers ahead of time while each container still serves exactly
one call. Framing on stdin: ``<script length>\\n<token>\\n``, the script,
then the command's own stdin until EOF (half-close).

The status line saves the engine's exit bookkeeping (~15 ms after the stream
ends) on the hot path. The attach stream only ends once the engine has
handled the container's exit, i.e. once every process of the call is gone,
so the result still comes back after the call is over. The token is random
per call and kept in a shell variable of the waiter; a command that forges
the line anyway only chooses its own exit status, which it can do by
exiting. What the command must not decide comes from elsewhere: a timeout
from the host's deadline, and for status 137 (or no status line) the
engine's exit status and OOM flag.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.types import DeviceRequest, HostConfig, LogConfig, Mount, Ulimit

from .backend import LABEL_OWNER, LABEL_RUN, LABEL_TENANT, Command, call_environment, owner_alive, shell_script
from .capture import CappedBuffer, pump
from .errors import ContainerFault, DockerUnavailable, GpuUnavailable, ImageMissing, PolicyError
from .gpu import INSTALL_FIX, require_gpu_host, visible_devices
from .policy import GpuSelection, SandboxPolicy, parse_size
from .result import EXIT_OOM, EXIT_TIMEOUT, ExecResult
from .warm_pool import WarmPool

log = logging.getLogger("avo.sandbox")

#: First process of every call's container: read the framed script, run it, report its status.
WAITER = ("IFS= read -r n && IFS= read -r token && script=$(head -c \"$n\") && "
          "{ /bin/sh -c \"$script\"; status=$?; printf '%s %s\\n' \"$token\" \"$status\" >&2; "
          "exit \"$status\"; }")
#: Who calls run as when the host user is root (never root inside).
SANDBOX_UID = 65532
#: Oldest engine API with everything used here (device requests, init, mounts).
API_VERSION = "1.41"
GPU_CAPABILITIES = [["gpu", "compute", "utility"]]
#: Host pids gVisor's own Sentry and gofer threads need (~40 idle) on top of the policy's
#: limit: under runsc the pids cgroup counts them too, and a Sentry that cannot start a
#: thread dies (exit 2), so a policy that runs under runc would not even start a command.
RUNSC_PIDS_HEADROOM = 64
#: How long past a deadline to wait for the engine to confirm a killed container's exit.
WAIT_GRACE_S = 5.0

DAEMON_FIX = ("no Docker daemon answers{where}: start it with `sudo systemctl start docker`, "
              "or `dockerd >/var/log/dockerd.log 2>&1 &` where there is no systemd (see .ci/run)")
#: How to register gVisor on Debian/Ubuntu (what scripts/setup.sh does); the runtimeArgs are
#: explained in docs/SANDBOX.md. SIGHUP reloads runtimes without stopping running containers.
GVISOR_FIX = ("`apt-get install runsc`; merge {\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\", "
              "\"runtimeArgs\": [\"--network=none\", \"--oci-seccomp\"]}}} into /etc/docker/daemon.json; "
              "reload dockerd (`kill -HUP $(pidof dockerd)`); scripts/setup.sh does all three")


def _daemon_fix() -> str:
    host = os.environ.get("DOCKER_HOST")
    return DAEMON_FIX.format(where=f" at {host}" if host else "")


def _image_fix(image: str) -> str:
    targets = {"avo-sandbox:cpu": "make image", "avo-sandbox:gpu": "make image-gpu"}
    how = (f"build it with `{targets[image]}`" if image in targets
           else "build or load it (`docker build`, `docker load`); avo's own images come from `make image`")
    return f"image {image} is not present locally and is never pulled implicitly: {how}"


@contextmanager
def engine_errors(image: str = "") -> Iterator[None]:
    """Translate every engine error into the package's own (with a fix where one exists)."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageMissing(_image_fix(image)) from exc
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if "could not select device driver" in text:
            raise GpuUnavailable(f"the engine cannot provide GPUs: {INSTALL_FIX}") from exc
        if "unknown or invalid runtime" in text:
            raise PolicyError(f"{text}: register the runtime with dockerd or unset sandbox.runtime") from exc
        raise ContainerFault(f"Docker engine error: {text}") from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(_daemon_fix()) from exc


def connect() -> docker.DockerClient:
    """A client for the local engine, or DockerUnavailable saying how to start one."""
    with engine_errors():
        client = docker.from_env(version="auto")
        client.ping()
        return client


def engine_runtimes(client: docker.DockerClient) -> list[str]:
    """Names of the runtimes registered with the engine (runc, nvidia, runsc...)."""
    with engine_errors():
        return sorted(client.info().get("Runtimes", {}))


def image_present(client: docker.DockerClient, image: str) -> bool:
    with engine_errors(image):
        try:
            client.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return False
        return True


def sandbox_user(policy: SandboxPolicy) -> str:
    """The policy's user, else the host's uid:gid (so workspace files stay the user's),
    else, when the host user is root, a fixed unprivileged uid: never root inside."""
    if policy.user:
        return policy.user
    uid, gid = os.getuid(), os.getgid()
    return f"{uid}:{gid}" if uid != 0 else f"{SANDBOX_UID}:{SANDBOX_UID}"


def device_request(gpus: GpuSelection) -> DeviceRequest | None:
    """The ``--gpus`` equivalent for a selection: explicit ids or a count; ``-1`` (every
    device) only when the selection says ``all`` explicitly."""
    if gpus.mode == "devices":
        return DeviceRequest(driver="nvidia", device_ids=list(gpus.device_ids), capabilities=GPU_CAPABILITIES)
    if gpus.mode == "count":
        return DeviceRequest(driver="nvidia", count=gpus.count, capabilities=GPU_CAPABILITIES)
    if gpus.mode == "all":
        return DeviceRequest(driver="nvidia", count=-1, capabilities=GPU_CAPABILITIES)
    return None


def _mounts(policy: SandboxPolicy, workspace: Path) -> list[Mount]:
    mounts = [Mount(target=policy.workdir, source=str(workspace), type="bind", read_only=False)]
    for extra in policy.read_only_mounts:
        source = extra.host.resolve()
        if not source.exists():
            raise PolicyError(f"read-only mount source does not exist: {source}")
        mounts.append(Mount(target=extra.container, source=str(source), type="bind", read_only=True))
    targets = [m["Target"] for m in mounts]
    if len(set(targets)) != len(targets):
        raise PolicyError(f"two mounts share a container path: {targets}")
    return mounts


def container_options(policy: SandboxPolicy, workspace: Path, labels: dict[str, str],
                      api_version: str = API_VERSION) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_container`` for one call under ``policy``.

    Every hardening choice of the sandbox is made here and nowhere else.
    """
    if not workspace.is_absolute() or not workspace.is_dir():
        raise PolicyError(f"workspace must be an existing absolute directory: {workspace}")
    memory = policy.memory_bytes
    file_size = parse_size(policy.max_file_size)
    env = call_environment(policy)
    env["NVIDIA_VISIBLE_DEVICES"] = visible_devices(policy.gpus)
    if policy.gpus.requested:
        env["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
    request = device_request(policy.gpus)
    host_config = HostConfig(
        version=api_version,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        privileged=False,
        read_only=True,
        tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={parse_size(policy.tmpfs_size)},mode=1777"},
        shm_size=parse_size(policy.shm_size),
        ipc_mode="private",
        mem_limit=memory,
        memswap_limit=memory,
        pids_limit=policy.pids_limit + (RUNSC_PIDS_HEADROOM if policy.runtime == "runsc" else 0),
        nano_cpus=int(policy.cpus * 1e9),
        ulimits=[Ulimit(name="nofile", soft=policy.nofile, hard=policy.nofile),
                 Ulimit(name="fsize", soft=file_size, hard=file_size)],
        init=True,
        network_mode=policy.network,
        mounts=_mounts(policy, workspace),
        # Output reaches the host over the attach stream only; engine logs would be a
        # second, disk-backed copy of a possible flood (and cost 3x its throughput).
        log_config=LogConfig(type="none"),
        runtime=policy.runtime,
        device_requests=[request] if request else None,
    )
    return {
        "image": policy.image,
        "entrypoint": ["/bin/sh", "-c", WAITER, "avo-call"],
        "user": sandbox_user(policy),
        "environment": env,
        "working_dir": policy.workdir,
        "labels": labels,
        "hostname": "sandbox",
        "stdin_open": True,  # with detach=False this also sets StdinOnce: our half-close is EOF
        "detach": False,
        "tty": False,
        "use_config_proxy": False,  # the client's proxy settings are host environment too
        "host_config": host_config,
    }


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


@dataclass
class StartedContainer:
    """A started call container whose waiter blocks on its attached stdin."""

    id: str
    stream: Any  # the attach connection (a socket-like object of docker-py)

    @property
    def socket(self) -> socket.socket:
        return getattr(self.stream, "_sock", self.stream)


class _Demux:
    """Splits Docker's multiplexed attach stream (8-byte frame headers) into stdout/stderr,
    passing payloads through as they arrive so no frame is ever held whole."""

    def __init__(self, stdout: Callable[[Any], None], stderr: Callable[[Any], None]) -> None:
        self._sinks: dict[int, Callable[[Any], None]] = {1: stdout, 2: stderr}
        self._header = bytearray()
        self._sink = stderr
        self._remaining = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._remaining:
                part = view[: self._remaining]
                self._sink(part)
                self._remaining -= len(part)
                view = view[len(part):]
                continue
            need = 8 - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) == 8:
                self._sink = self._sinks.get(self._header[0], self._sinks[2])
                self._remaining = int.from_bytes(self._header[4:8], "big")
                self._header.clear()


class _StatusLine:
    """Passes stderr on to ``sink`` but holds back its last bytes, where the waiter's
    ``<token> <status>\\n`` lands, so the line is found and stripped whole before the
    output cap can split or drop it, and the cap sees the command's own stderr only."""

    def __init__(self, token: str, sink: Callable[[Any], None]) -> None:
        self._line = re.compile(re.escape(token.encode()) + rb" (\d{1,3})\n\Z")
        self._keep = len(token) + 5  # space, up to 3 digits, newline
        self._sink = sink
        self._held = b""

    def write(self, data: Any) -> None:
        if len(data) >= self._keep:
            if self._held:
                self._sink(self._held)
            self._sink(data[: -self._keep])
            self._held = bytes(data[-self._keep:])
            return
        held = self._held + bytes(data)
        if len(held) > self._keep:
            self._sink(held[: -self._keep])
        self._held = held[-self._keep:]

    def close(self) -> int | None:
        """Flush what is held; the waiter's status when stderr ends with its line, else None."""
        found = self._line.search(self._held)
        if found is None or int(found[1]) > 255:  # no line, or one no exit status can produce
            self._sink(self._held)
            return None
        self._sink(self._held[: found.start()])
        return int(found[1])


def _deliver(container: StartedContainer, payload: bytes) -> None:
    """Send the framed request and half-close stdin. In its own thread: a large stdin can
    outgrow the socket's buffers while the command is still writing output to be pumped."""
    try:
        container.socket.sendall(payload)
        container.socket.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the command exited or never read its stdin: its exit status still counts


class DockerBackend:
    """One fresh, hardened container per call; optionally started ahead by a warm pool."""

    def __init__(self, policy: SandboxPolicy, workspace: Path, labels: dict[str, str]) -> None:
        self._policy = policy
        self._workspace = workspace
        self._client = connect()
        self._api = self._client.api
        try:
            self._open(policy, workspace, labels)
        except BaseException:
            self._client.close()
            raise

    def _open(self, policy: SandboxPolicy, workspace: Path, labels: dict[str, str]) -> None:
        """Check the host can honour the policy, sweep the run's stale containers, fill the pool."""
        runtimes = engine_runtimes(self._client)
        if policy.runtime and policy.runtime not in runtimes:
            how = GVISOR_FIX if policy.runtime == "runsc" else "register it with dockerd"
            raise PolicyError(f"runtime {policy.runtime!r} is not registered with dockerd (it has "
                              f"{', '.join(runtimes)}): {how}; or unset sandbox.runtime")
        require_gpu_host(policy.gpus, runtimes)
        if not image_present(self._client, policy.image):
            raise ImageMissing(_image_fix(policy.image))
        self._options = container_options(policy, workspace, labels, self._api.api_version)
        self._user = self._options["user"]
        remove_labelled(self._client, run_id=labels[LABEL_RUN], stale_only=True)
        self._pool: WarmPool[StartedContainer] | None = None
        if policy.pool_size:
            self._pool = WarmPool(policy.pool_size, self._start, self._dispose)

    def run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        script = shell_script(command).encode()
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
        if self._pool:
            self._pool.close()
        self._client.close()

    def _start(self) -> StartedContainer:
        """Create, attach (before start, so no output is ever missed) and start a container."""
        with engine_errors(self._policy.image):
            created = self._api.create_container(**self._options)
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
        container.stream.close()
        self._remove(container.id)

    def _remove(self, container_id: str) -> None:
        """Remove whatever state the container is in; a failure is logged, never raised,
        so it cannot mask the call's result (``gc`` removes what is left)."""
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
        status_line = _StatusLine(token, stderr.write)
        started = time.monotonic()
        deadline = started + timeout_s
        payload = b"%d\n%s\n" % (len(script), token.encode()) + script + stdin
        threading.Thread(target=_deliver, args=(container, payload), name="avo-call", daemon=True).start()
        finished = pump({container.socket.fileno(): _Demux(stdout.write, status_line.write).feed}, deadline)
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


def remove_labelled(client: docker.DockerClient | None = None, *, run_id: str | None = None,
                    tenant: str | None = None, stale_only: bool = False) -> int:
    """Force-remove avo's containers (all, or one run's or tenant's); returns how many.

    ``stale_only`` keeps containers whose labelling process may still be alive, so a new
    sandbox sweeping its own run never removes a sibling's in-flight containers.
    """
    client = client or connect()
    filters = [f"{LABEL_OWNER}=avo"]
    filters += [f"{LABEL_RUN}={run_id}"] if run_id else []
    filters += [f"{LABEL_TENANT}={tenant}"] if tenant else []
    removed = 0
    with engine_errors():
        for found in client.api.containers(all=True, filters={"label": filters}):
            if stale_only and owner_alive(found.get("Labels") or {}):
                continue
            try:
                client.api.remove_container(found["Id"], force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
    return removed
