"""GPU leases and container slots of the broker (lease logic with a policy-declared inventory).

The same logic is driven by real tenant processes in tests/broker/test_tenants.py; here
each rule is pinned down on its own, with threads standing in for sessions.
"""

from __future__ import annotations

import threading
import time

import pytest

from sandbox import GpuSelection, GpuUnavailable, PolicyError
from sandbox.broker.container_slots import ContainerSlots, SlotsBusy
from sandbox.broker.gpu_leases import ClientGone, GpuLeases, Holder, host_inventory, nvml_inventory
from sandbox.broker.host_policy import GpuDevice, HostPolicy, TenantRule

GPUS = [GpuDevice(index=i, uuid=f"GPU-{i}{i}{i}-test", cpus=f"{2 * i}-{2 * i + 1}") for i in range(3)]
RULE = TenantRule(group="g", gpus=[0, "GPU-222-test"], max_gpus=2)


def _holder(name: str) -> Holder:
    return Holder(session=name, tenant=f"user-{name}", pid=100, run=f"run-{name}", group=f"run-{name}")


def _acquire(leases: GpuLeases, name: str, spec: str | int, *, wait: bool = False, notices: list | None = None,
             gone=lambda: False):  # type: ignore[no-untyped-def]
    return leases.acquire(_holder(name), RULE, GpuSelection.parse(spec), wait=wait,
                          notify=(notices if notices is not None else []).append, gone=gone)


def test_the_inventory_comes_from_the_policy_without_nvml() -> None:
    assert nvml_inventory() == []  # nvidia-ml-py is installed; no driver answers here
    assert host_inventory(HostPolicy(gpus=GPUS)) == GPUS


def test_a_count_picks_free_gpus_among_the_tenants_only() -> None:
    leases = GpuLeases(GPUS)
    assert [g.index for g in _acquire(leases, "a", 1)] == [0]
    assert [g.index for g in _acquire(leases, "b", 1)] == [2]  # GPU 1 is not this tenant's
    with pytest.raises(GpuUnavailable, match="GPU 0 .* held by user-a .*GPU 2 .* held by user-b"):
        _acquire(leases, "c", 1)
    leases.release("a")
    assert [g.index for g in _acquire(leases, "c", 1)] == [0]


@pytest.mark.parametrize("spec, message", [
    ("1", "GPU 1 is not one of yours (yours: 0, 2)"),
    ("all", "gpus: all is refused"),
    ("count=3", "your limit is 2 at once"),
    ("GPU-111-test", "not one of yours"),
])
def test_requests_a_tenant_could_never_have_are_refused(spec: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _acquire(GpuLeases(GPUS), "a", spec)


def test_devices_are_named_by_index_or_uuid() -> None:
    leases = GpuLeases(GPUS)
    assert [g.uuid for g in _acquire(leases, "a", "GPU-222-test,0")] == ["GPU-222-test", "GPU-000-test"]


def test_a_waiter_gets_the_gpu_only_after_its_holder_releases_it() -> None:
    leases = GpuLeases(GPUS)
    _acquire(leases, "a", "0")
    notices: list[str] = []
    got: list[float] = []
    waiter = threading.Thread(target=lambda: got.append(_acquire(leases, "b", "0", wait=True, notices=notices)
                                                        and time.monotonic()))
    waiter.start()
    time.sleep(0.3)
    assert not got and notices == ["waiting for 1 GPU(s): GPU 0 (GPU-000-test) held by user-a (pid 100, run run-a)"]
    released = time.monotonic()
    leases.release("a")
    waiter.join(5)
    assert got and got[0] >= released
    assert [g["holder"] for g in leases.snapshot()] == ["user-b (pid 100, run run-b)", None, None]


def test_a_waiter_whose_client_is_gone_stops_waiting() -> None:
    leases = GpuLeases(GPUS)
    _acquire(leases, "a", "0")
    with pytest.raises(ClientGone):
        _acquire(leases, "b", "0", wait=True, gone=lambda: True)


def test_container_slots_queue_per_tenant_and_keep_one_for_calls() -> None:
    slots = ContainerSlots()
    assert slots.reserve("alice", 5, limit=3) == 2  # a warm pool never takes the last slot
    slots.acquire("alice", 3, wait=False, notify=print, gone=lambda: False)
    with pytest.raises(SlotsBusy, match="your limit is 3"):
        slots.acquire("alice", 3, wait=False, notify=print, gone=lambda: False)
    slots.acquire("bob", 1, wait=False, notify=print, gone=lambda: False)  # another tenant's quota is its own
    notices: list[str] = []
    waiter = threading.Thread(target=slots.acquire, args=("alice", 3),
                              kwargs={"wait": True, "notify": notices.append, "gone": lambda: False})
    waiter.start()
    time.sleep(0.2)
    assert slots.snapshot()["alice"] == {"containers": 3, "queued": 1} and waiter.is_alive()
    slots.release("alice")
    waiter.join(5)
    assert not waiter.is_alive() and slots.snapshot()["alice"] == {"containers": 3, "queued": 0}
    assert notices == ["queued: 3 of your 3 container(s) are busy"]


def test_sessions_of_one_lease_group_share_its_lease_until_the_last_one_ends() -> None:
    leases = GpuLeases(GPUS)
    rule = TenantRule(group="g", gpus=[0, 1, 2], max_gpus=2)

    def ask(session: str, group: str, spec: str) -> list[int]:
        holder = Holder(session=session, tenant="alice", pid=1, run="r", group=group)
        return [g.index for g in leases.acquire(holder, rule, GpuSelection.parse(spec), wait=False,
                                                notify=print, gone=lambda: False)]

    assert ask("shell", "r/agent0", "count=1") == [0]
    assert ask("score", "r/agent0", "count=1") == [0]  # the same lease, not a second GPU
    assert ask("hidden", "r/agent0", "0") == [0]  # by name, within the group's lease
    assert ask("shell1", "r/agent1", "count=1") == [1]  # another group: its own lease
    with pytest.raises(PolicyError, match="already holds GPU"):
        ask("big", "r/agent0", "count=2")
    leases.release("shell")
    leases.release("hidden")
    assert leases.held_by()["GPU-000-test"] == ("alice", "r/agent0")  # "score" still holds it
    leases.release("score")
    assert "GPU-000-test" not in leases.held_by()


def test_a_tenants_gpu_limit_counts_every_lease_it_holds() -> None:
    leases = GpuLeases(GPUS)
    rule = TenantRule(group="g", gpus=[0, 1, 2], max_gpus=1)
    first = Holder(session="a", tenant="alice", pid=1, run="r1", group="r1")
    second = Holder(session="b", tenant="alice", pid=1, run="r2", group="r2")
    leases.acquire(first, rule, GpuSelection.parse("count=1"), wait=False, notify=print, gone=lambda: False)
    with pytest.raises(GpuUnavailable, match="already hold 1 GPU"):
        leases.acquire(second, rule, GpuSelection.parse("count=1"), wait=False, notify=print, gone=lambda: False)
