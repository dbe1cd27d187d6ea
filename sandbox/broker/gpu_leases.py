"""Exclusive GPU leases: one holder per physical GPU (by UUID), for a session's lifetime.

The inventory comes from NVML (``nvidia-ml-py``) where a driver answers, and from the
host policy otherwise (or where NVML finds nothing). A session asks for a count (the
broker picks free GPUs among the tenant's) or names devices (each must be the tenant's
and free). A busy GPU makes the request wait, with a notice naming who holds what, or
fail at once when the caller does not wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import GpuUnavailable, PolicyError
from ..policy import GpuSelection
from .host_policy import GpuDevice, HostPolicy, TenantRule

#: How often a waiting request looks again whether its client is still there.
POLL_S = 0.5


class ClientGone(Exception):
    """The session's client went away while the broker was waiting on its behalf."""


def nvml_inventory() -> list[GpuDevice]:
    """The host's GPUs as NVML reports them; empty without a driver or ``nvidia-ml-py``."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(index))
            devices.append(GpuDevice(index=index, uuid=uuid if isinstance(uuid, str) else uuid.decode()))
        return devices
    finally:
        pynvml.nvmlShutdown()


def host_inventory(policy: HostPolicy) -> list[GpuDevice]:
    """NVML's devices with the CPU cores the policy pairs with each; the policy's list without NVML."""
    found = nvml_inventory()
    if not found:
        return list(policy.gpus)
    paired = {gpu.uuid: gpu.cpus for gpu in policy.gpus}
    return [gpu.model_copy(update={"cpus": paired.get(gpu.uuid)}) for gpu in found]


@dataclass(frozen=True)
class Holder:
    """Who asks for a lease: shown to whoever waits for the same GPU."""

    session: str
    tenant: str
    pid: int
    run: str
    group: str

    def describe(self) -> str:
        return f"{self.tenant} (pid {self.pid}, run {self.run})"


@dataclass
class Lease:
    """GPUs held by one lease group of one tenant, while any of its sessions is open."""

    tenant: str
    group: str
    holder: str
    devices: list[GpuDevice]
    sessions: set[str] = field(default_factory=set)


class GpuLeases:
    """The broker's table of who holds which GPU (part of :class:`.ledger.Ledger`)."""

    def __init__(self, devices: list[GpuDevice], changed: threading.Condition | None = None) -> None:
        self._devices = {gpu.uuid: gpu for gpu in devices}
        self._leases: dict[tuple[str, str], Lease] = {}
        self._changed = changed or threading.Condition()  # the ledger's, in the broker

    @property
    def devices(self) -> list[GpuDevice]:
        return list(self._devices.values())

    def allowed(self, rule: TenantRule) -> list[GpuDevice]:
        """The tenant's GPUs: those its entry names by index or by UUID."""
        named = {str(ref) for ref in rule.gpus}
        return [gpu for gpu in self._devices.values() if str(gpu.index) in named or gpu.uuid in named]

    def choose(self, rule: TenantRule, selection: GpuSelection) -> tuple[int, list[GpuDevice]]:
        """How many GPUs the request needs and among which devices; PolicyError when it never could."""
        mine = self.allowed(rule)
        names = ", ".join(str(gpu.index) for gpu in mine) or "none"
        if selection.mode == "all":
            raise PolicyError("gpus: all is refused by the broker on a shared host: ask for a count "
                              f"(gpus: 1) or name your devices ({names})")
        if selection.mode == "count":
            wanted, pool = selection.count or 0, mine
        else:
            pool = []
            for ref in selection.device_ids:
                match = [gpu for gpu in mine if ref in (str(gpu.index), gpu.uuid)]
                if not match:
                    raise PolicyError(f"GPU {ref} is not one of yours (yours: {names})")
                pool.append(match[0])
            wanted = len(pool)
        if wanted > rule.max_gpus:
            raise PolicyError(f"{wanted} GPU(s) asked, your limit is {rule.max_gpus} at once")
        if wanted > len(pool):
            raise PolicyError(f"{wanted} GPU(s) asked, you have {len(pool)} ({names})")
        return wanted, pool

    def _holder_of(self, uuid: str) -> Lease | None:
        return next((lease for lease in self._leases.values() if any(g.uuid == uuid for g in lease.devices)), None)

    def _join(self, lease: Lease, holder: Holder, wanted: int, pool: list[GpuDevice], mode: str) -> list[GpuDevice]:
        """A session of a group that already holds GPUs shares that lease (never a second one)."""
        held = {gpu.uuid for gpu in lease.devices}
        fits = {gpu.uuid for gpu in pool} <= held if mode == "devices" else wanted <= len(held)
        if not fits:
            raise PolicyError(f"lease group {lease.group!r} already holds GPU(s) "
                              f"{', '.join(str(g.index) for g in lease.devices)}: its sessions share that "
                              f"lease; ask for the same GPUs, or use another lease group")
        lease.sessions.add(holder.session)
        return list(lease.devices)

    def _try(self, holder: Holder, rule: TenantRule, wanted: int, pool: list[GpuDevice],
             mode: str) -> list[GpuDevice] | str:
        """Under the lock: the leased devices, or why the request must wait."""
        lease = self._leases.get((holder.tenant, holder.group))
        if lease is not None:
            return self._join(lease, holder, wanted, pool, mode)
        mine = sum(len(lease.devices) for lease in self._leases.values() if lease.tenant == holder.tenant)
        if mine + wanted > rule.max_gpus:
            return f"your runs already hold {mine} GPU(s), your limit is {rule.max_gpus} at once"
        free = [gpu for gpu in pool if self._holder_of(gpu.uuid) is None]
        if len(free) >= wanted if mode == "count" else len(free) == len(pool):
            leased = free[:wanted]
            self._leases[(holder.tenant, holder.group)] = Lease(holder.tenant, holder.group, holder.describe(),
                                                                leased, {holder.session})
            return leased
        return "; ".join(f"GPU {gpu.index} ({gpu.uuid}) held by {lease.holder}"
                         for gpu in pool if (lease := self._holder_of(gpu.uuid)) is not None)

    def acquire(self, holder: Holder, rule: TenantRule, selection: GpuSelection, *, wait: bool,
                notify: Callable[[str], None], gone: Callable[[], bool]) -> list[GpuDevice]:
        """Lease the GPUs ``selection`` asks for to ``holder``'s lease group, waiting while they
        are busy or the tenant's other runs hold its limit. ``notify`` runs outside the lock."""
        if not selection.requested:
            return []
        wanted, pool = self.choose(rule, selection)
        told = ""
        while True:
            with self._changed:
                outcome = self._try(holder, rule, wanted, pool, selection.mode)
            if not isinstance(outcome, str):
                return outcome
            if not wait:
                raise GpuUnavailable(f"no free GPU for you now: {outcome} (without --no-wait the run waits)")
            if outcome != told:
                notify(f"waiting for {wanted} GPU(s): {outcome}")
                told = outcome
            with self._changed:
                self._changed.wait(POLL_S)
            if gone():
                raise ClientGone()

    def release(self, session: str) -> None:
        """``session`` no longer holds its group's lease; the lease ends with its last session."""
        with self._changed:
            for key, lease in list(self._leases.items()):
                lease.sessions.discard(session)
                if not lease.sessions:
                    del self._leases[key]
            self._changed.notify_all()

    def held_by(self) -> dict[str, tuple[str, str]]:
        """GPU UUID -> (tenant, lease group) of every lease now."""
        with self._changed:
            return {gpu.uuid: (lease.tenant, lease.group) for lease in self._leases.values() for gpu in lease.devices}

    def snapshot(self) -> list[dict[str, object]]:
        with self._changed:
            holders = {gpu.uuid: lease.holder for lease in self._leases.values() for gpu in lease.devices}
            return [{"index": gpu.index, "uuid": gpu.uuid, "cpus": gpu.cpus, "holder": holders.get(gpu.uuid)}
                    for gpu in self._devices.values()]
