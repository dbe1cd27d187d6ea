"""One tenant's run session inside the broker: admitted policy, pinned mounts, leases, pool.

A session lives as long as its client's connection. Opening it admits the requested
policy (:mod:`.admission`), checks and pins every mount (:mod:`.mount_guard`), leases
GPUs (:mod:`.gpu_leases`), reserves warm-pool slots (:mod:`.container_slots`) and opens
the docker backend on the pinned paths with the tenant's uid forced. Each call takes a
container slot, runs through that backend (the same hardened options and call
lifecycle as the direct docker backend) and is audited. Closing undoes all of it, in
reverse, whatever state the session reached; it is safe to call twice.
"""

from __future__ import annotations

import grp
import hashlib
import os
import secrets
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.base import call_labels, shell_script
from ..backends.docker import DockerBackend, Placement, remove_labelled
from ..policy import GpuSelection, ReadOnlyMount, SandboxPolicy
from ..result import ExecResult
from .admission import admit
from .audit_log import AuditLog
from .container_slots import ContainerSlots
from .device_rule import require_nosuid
from .gpu_leases import GpuDevice, GpuLeases, Holder
from .host_policy import HostPolicy, TenantRule
from .mount_guard import MountPins, open_checked
from .peer import Peer
from .protocol import OpenSession, RunCall, decode_stdin

#: Labels the broker adds to every container it starts (on top of avo's own).
LABEL_BROKER = "avo.broker"
LABEL_SESSION = "avo.session"
LABEL_UID = "avo.uid"

Notify = Callable[[str], None]
Gone = Callable[[], bool]


@dataclass
class BrokerState:
    """What every session of one broker shares."""

    policy: HostPolicy
    leases: GpuLeases
    slots: ContainerSlots
    audit: AuditLog
    pins: MountPins
    gpu_gid: int | None = None
    harness: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def build(cls, policy: HostPolicy, inventory: list[GpuDevice]) -> "BrokerState":
        return cls(policy=policy, leases=GpuLeases(inventory), slots=ContainerSlots(),
                   audit=AuditLog(policy.audit_log), pins=MountPins(policy.state_dir),
                   gpu_gid=grp.getgrnam(policy.gpu_group).gr_gid if policy.gpu_group else None,
                   harness=policy.harness_sources())


class TenantSession:
    """A run session of one client connection."""

    def __init__(self, state: BrokerState, peer: Peer, request: OpenSession, notify: Notify, gone: Gone) -> None:
        self.id = secrets.token_hex(8)
        self.peer = peer
        self.run_id = request.run_id
        self._state = state
        self._undo = ExitStack()
        self._rule: TenantRule | None = state.policy.rule_for(peer.user, list(peer.groups))
        self.policy: SandboxPolicy = admit(self._rule, request.policy, peer, supplied=state.harness)
        assert self._rule is not None  # admit() refuses a caller without an entry
        rule = self._rule
        self.gpus: list[GpuDevice] = []
        try:
            self._undo.callback(state.pins.release, self.id)
            roots = rule.roots_for(peer.user)
            workspace = self._pin(request.workspace, roots, "workspace", directory=True)
            mounts = [self._mount(mount, roots, index) for index, mount in enumerate(self.policy.read_only_mounts)]
            if self.policy.gpus.requested:
                require_nosuid([workspace])  # no setgid-gpu_group file a GPU call writes may run on the host
            self._undo.callback(state.leases.release, self.id)
            self.gpus = state.leases.acquire(Holder(self.id, peer.user, peer.pid, request.run_id), rule,
                                             self.policy.gpus, wait=self.policy.broker_wait, notify=notify, gone=gone)
            pool = state.slots.reserve(peer.user, self.policy.pool_size, rule.max_containers)
            self._undo.callback(state.slots.release, peer.user, pool)
            self.policy = self.policy.model_copy(update={
                "read_only_mounts": mounts, "pool_size": pool,
                "gpus": GpuSelection(mode="devices", device_ids=[g.uuid for g in self.gpus]) if self.gpus
                else GpuSelection()})
            self.labels = {**call_labels(request.run_id, peer.user, request.purpose),
                           LABEL_BROKER: state.policy.name, LABEL_SESSION: self.id, LABEL_UID: str(peer.uid)}
            self._undo.callback(remove_labelled, labels={LABEL_SESSION: self.id}, stale_only=False)
            self._backend = DockerBackend(self.policy, workspace, self.labels, placement=self._placement(),
                                          hand_over_workspace=False)
            self._undo.callback(self._backend.close)
        except BaseException:
            self.close()
            raise

    def _pin(self, path: str, roots: list[str], name: str, *, directory: bool) -> Path:
        fd = open_checked(path, roots, self.peer.uid, directory=directory)
        try:
            return self._state.pins.pin(fd, self.id, name)
        finally:
            os.close(fd)

    def _mount(self, mount: ReadOnlyMount, roots: list[str], index: int) -> ReadOnlyMount:
        """The broker's own root-owned copy for the harness and library, else the tenant's path pinned."""
        supplied = self._state.harness.get(mount.container)
        if supplied is not None:
            return mount.model_copy(update={"host": supplied})
        return mount.model_copy(update={"host": self._pin(str(mount.host), roots, f"ro{index}", directory=False)})

    def _placement(self) -> Placement:
        if not self.gpus:
            return Placement()
        cpus = ",".join(gpu.cpus for gpu in self.gpus if gpu.cpus)
        groups = (str(self._state.gpu_gid),) if self._state.gpu_gid is not None else ()
        return Placement(groups=groups, cpuset=cpus or None)

    def run(self, call: RunCall, notify: Notify, gone: Gone) -> ExecResult:
        """One call in a fresh container, within the tenant's container quota; audited."""
        assert self._rule is not None
        script = shell_script(call.command)
        tenant = self.peer.user
        self._state.slots.acquire(tenant, self._rule.max_containers, wait=self.policy.broker_wait,
                                  notify=notify, gone=gone)
        started = time.monotonic()
        outcome: dict[str, object] = {}
        try:
            timeout = min(call.timeout_s or self.policy.timeout_s, self.policy.timeout_s)
            result = self._backend.run(call.command, stdin=decode_stdin(call.stdin), timeout_s=timeout)
            outcome = {"exit": result.exit_code, "oom_killed": result.oom_killed, "timed_out": result.timed_out,
                       "container": (result.container_id or "")[:12]}
            return result
        except Exception as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
            raise
        finally:
            self._state.slots.release(tenant)
            self._state.audit.record(
                "call", tenant=tenant, uid=self.peer.uid, pid=self.peer.pid, run=self.run_id,
                session=self.id, image=self.policy.image,
                command_sha256=hashlib.sha256(script.encode()).hexdigest(),
                gpus=[gpu.uuid for gpu in self.gpus], duration_s=round(time.monotonic() - started, 3), **outcome)

    def cut_short(self) -> None:
        """Remove the session's containers now (its client hung up mid-call)."""
        remove_labelled(labels={LABEL_SESSION: self.id}, stale_only=False)

    def close(self) -> None:
        """Remove containers, end leases, free slots, unpin mounts; safe to call twice."""
        self._undo.close()
