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
from dataclasses import dataclass

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
    """Who holds a lease: shown to whoever waits for the same GPU."""

    session: str
    tenant: str
    pid: int
    run: str

    def describe(self) -> str:
        return f"{self.tenant} (pid {self.pid}, run {self.run})"


class GpuLeases:
    """The broker's table of who holds which GPU."""

    def __init__(self, devices: list[GpuDevice]) -> None:
        self._devices = {gpu.uuid: gpu for gpu in devices}
        self._holders: dict[str, Holder] = {}
        self._changed = threading.Condition()

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

    def acquire(self, holder: Holder, rule: TenantRule, selection: GpuSelection, *, wait: bool,
                notify: Callable[[str], None], gone: Callable[[], bool]) -> list[GpuDevice]:
        """Lease the GPUs ``selection`` asks for to ``holder``, waiting while they are busy."""
        if not selection.requested:
            return []
        wanted, pool = self.choose(rule, selection)
        told = ""
        with self._changed:
            while True:
                free = [gpu for gpu in pool if gpu.uuid not in self._holders]
                enough = len(free) >= wanted if selection.mode == "count" else len(free) == len(pool)
                if enough:
                    leased = free[:wanted]
                    for gpu in leased:
                        self._holders[gpu.uuid] = holder
                    return leased
                busy = "; ".join(f"GPU {gpu.index} ({gpu.uuid}) held by {self._holders[gpu.uuid].describe()}"
                                 for gpu in pool if gpu.uuid in self._holders)
                if not wait:
                    raise GpuUnavailable(f"no free GPU for you now: {busy} (without --no-wait the run waits)")
                if busy != told:
                    notify(f"waiting for {wanted} GPU(s): {busy}")
                    told = busy
                self._changed.wait(POLL_S)
                if gone():
                    raise ClientGone()

    def release(self, session: str) -> None:
        """End every lease of ``session`` and wake whoever waits."""
        with self._changed:
            for uuid in [uuid for uuid, holder in self._holders.items() if holder.session == session]:
                del self._holders[uuid]
            self._changed.notify_all()

    def snapshot(self) -> list[dict[str, object]]:
        with self._changed:
            return [{"index": gpu.index, "uuid": gpu.uuid, "cpus": gpu.cpus,
                     "holder": self._holders[gpu.uuid].describe() if gpu.uuid in self._holders else None}
                    for gpu in self._devices.values()]
