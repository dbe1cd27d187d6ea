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
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.base import call_labels, shell_script
from ..backends.docker import DockerBackend, Placement, remove_labelled
from ..errors import PolicyError, SandboxError
from ..policy import GpuSelection, ReadOnlyMount, SandboxPolicy
from ..result import ExecResult
from .admission import admit
from .audit_log import AuditLog
from .container_slots import ContainerSlots
from .device_rule import require_nosuid
from .gpu_leases import GpuDevice, GpuLeases, Holder
from .ledger import Ledger
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
    """What every session of one broker shares: the ledger (the one owner of tenants'
    sessions, leases and slots), the audit log, the mount pins, and the sessions whose
    containers could not be removed yet (their GPU leases stay held until they are)."""

    policy: HostPolicy
    ledger: Ledger
    audit: AuditLog
    pins: MountPins
    gpu_gid: int | None = None
    harness: dict[str, Path] = field(default_factory=dict)
    unremoved: dict[str, str] = field(default_factory=dict)  # session id -> tenant
    unremoved_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, policy: HostPolicy, inventory: list[GpuDevice]) -> "BrokerState":
        return cls(policy=policy, ledger=Ledger(inventory), audit=AuditLog(policy.audit_log),
                   pins=MountPins(policy.state_dir),
                   gpu_gid=grp.getgrnam(policy.gpu_group).gr_gid if policy.gpu_group else None,
                   harness=policy.harness_sources())

    @property
    def leases(self) -> GpuLeases:
        return self.ledger.leases

    @property
    def slots(self) -> ContainerSlots:
        return self.ledger.slots

    def retry_removals(self) -> None:
        """Remove what a closed session could not (e.g. dockerd restarting); only then end
        its GPU lease, so no container outlives the lease it ran under."""
        with self.unremoved_lock:
            pending = dict(self.unremoved)
        for session, tenant in pending.items():
            try:
                remove_labelled(labels={LABEL_SESSION: session}, stale_only=False)
            except SandboxError:
                continue
            with self.unremoved_lock:
                self.unremoved.pop(session, None)
            self.leases.release(session)
            self.audit.record("lease_end", tenant=tenant, session=session, reason="containers removed at last")


class TenantSession:
    """A run session of one client connection."""

    def __init__(self, state: BrokerState, peer: Peer, request: OpenSession, notify: Notify, gone: Gone) -> None:
        self.id = secrets.token_hex(8)
        self.peer = peer
        self.run_id = request.run_id
        self.lease_group = request.lease_group or request.run_id
        self._state = state
        self._undo = ExitStack()
        self._calls: dict[int, float] = {}  # calls in flight: thread id -> start (monotonic)
        self._removed = True  # no container can exist until the backend opens
        self._rule: TenantRule | None = state.policy.rule_for(peer.user, list(peer.groups))
        self.policy: SandboxPolicy = admit(self._rule, request.policy, peer, supplied=state.harness)
        assert self._rule is not None  # admit() refuses a caller without an entry
        rule = self._rule
        self.gpus: list[GpuDevice] = []
        state.ledger.reserve_session(peer.user, rule.max_sessions)
        self._undo.callback(state.ledger.release_session, peer.user)
        try:
            self._undo.callback(state.pins.release, self.id)
            roots = rule.roots_for(peer.user)
            workspace = self._pin(request.workspace, roots, "workspace", directory=True)
            mounts = [self._mount(mount, roots, index) for index, mount in enumerate(self.policy.read_only_mounts)]
            if self.policy.gpus.requested:
                require_nosuid([workspace])  # no setgid-gpu_group file a GPU call writes may run on the host
            self._undo.callback(self._end_lease)
            self.gpus = state.leases.acquire(Holder(self.id, peer.user, peer.pid, request.run_id, self.lease_group),
                                             rule, self.policy.gpus, wait=self.policy.broker_wait, notify=notify,
                                             gone=gone)
            pool = state.slots.reserve(peer.user, self.policy.pool_size, rule.max_containers)
            self._undo.callback(state.slots.release, peer.user, pool)
            self.policy = self.policy.model_copy(update={
                "read_only_mounts": mounts, "pool_size": pool,
                "gpus": GpuSelection(mode="devices", device_ids=[g.uuid for g in self.gpus]) if self.gpus
                else GpuSelection()})
            self.labels = {**call_labels(request.run_id, peer.user, request.purpose),
                           LABEL_BROKER: state.policy.name, LABEL_SESSION: self.id, LABEL_UID: str(peer.uid)}
            self._removed = False
            self._undo.callback(self._remove_containers)
            self._backend = DockerBackend(self.policy, workspace, self.labels, placement=self._placement(),
                                          hand_over_workspace=False)
            self._undo.callback(self._backend.close)
        except BaseException:
            self.close()
            raise
        state.audit.record("open", tenant=peer.user, uid=peer.uid, pid=peer.pid, run=self.run_id, session=self.id,
                           lease_group=self.lease_group, image=self.policy.image, workspace=request.workspace,
                           mounts=[{"host": str(m.host), "container": m.container} for m in mounts],
                           gpus=[gpu.uuid for gpu in self.gpus], pool=pool)

    def _remove_containers(self) -> None:
        remove_labelled(labels={LABEL_SESSION: self.id}, stale_only=False)
        self._removed = True

    def _end_lease(self) -> None:
        """End this session's share of its GPU lease, unless its containers may still be
        alive (their removal failed): then the broker keeps retrying and ends it after."""
        if self.gpus and not self._removed:
            with self._state.unremoved_lock:
                self._state.unremoved[self.id] = self.peer.user
            self._state.audit.record("lease_kept", tenant=self.peer.user, uid=self.peer.uid, session=self.id,
                                     gpus=[gpu.uuid for gpu in self.gpus],
                                     reason="its containers could not be removed; retrying")
            return
        self._state.leases.release(self.id)

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
        try:
            stdin = decode_stdin(call.stdin_b64)
        except ValueError:
            raise PolicyError("stdin_b64 is not base64") from None
        self._state.slots.acquire(tenant, self._rule.max_containers, wait=self.policy.broker_wait,
                                  notify=notify, gone=gone)
        started = time.monotonic()
        self._calls[threading.get_ident()] = started
        outcome: dict[str, object] = {}
        try:
            timeout = min(call.timeout_s or self.policy.timeout_s, self.policy.timeout_s)
            result = self._backend.run(call.command, stdin=stdin, timeout_s=timeout)
            outcome = {"exit": result.exit_code, "oom_killed": result.oom_killed, "timed_out": result.timed_out,
                       "container": (result.container_id or "")[:12]}
            return result
        except Exception as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
            raise
        finally:
            self._calls.pop(threading.get_ident(), None)
            self._state.slots.release(tenant)
            self._state.audit.record(
                "call", tenant=tenant, uid=self.peer.uid, pid=self.peer.pid, run=self.run_id,
                session=self.id, image=self.policy.image,
                command_sha256=hashlib.sha256(script.encode()).hexdigest(),
                gpus=[gpu.uuid for gpu in self.gpus], duration_s=round(time.monotonic() - started, 3), **outcome)

    def cut_short(self) -> None:
        """Remove the session's containers now (its client hung up mid-call); a failure is
        left to close(), which keeps the session's GPU lease until they are gone."""
        try:
            remove_labelled(labels={LABEL_SESSION: self.id}, stale_only=False)
        except SandboxError:
            pass

    def calls_in_flight(self) -> int:
        return len(self._calls)

    def close(self) -> None:
        """Remove containers, end leases (kept while removal fails), free slots, unpin mounts;
        safe to call twice."""
        self._undo.close()
