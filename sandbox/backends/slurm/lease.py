"""A run's allocation over its lifetime: acquired once, shared, renewed, released.

Every sandbox of a run (the agent's shell, the scorer's) runs its calls in the same
allocation: the first to open acquires it, the last to close releases it. A watcher
thread keeps it: before the job reaches its time limit it acquires a new one and
moves new calls there, releasing the old one once its calls are done, and it does the
same before the job's steps reach the site's ``MaxStepCount`` (every call is a step);
when the job is lost (preempted, node failure), calls wait for the replacement. A job
that a user cancelled (``scancel``, state CANCELLED) is not replaced: it means "stop
this run", which the host learns through :mod:`sandbox.host_link`. Every change of
queue state goes to the run's event sink (job id, state, reason), which is how the
live view shows a run waiting in the queue.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ... import host_link
from ...errors import SandboxClosed, SlurmError
from ...policy import SandboxPolicy
from ..base import EventSink
from .allocation import (ENCLOSING_ENV, Allocation, Heartbeat, resource_options, submit_holder,
                         sweep_orphans, wait_running)
from .queue import QueuedJob, ended_state, queued_job, settled_state, site_max_steps
from .run_records import RunRecord

log = logging.getLogger("avo.sandbox.slurm")
#: How long a failed step waits for its job to finish completing, to learn whether it was cancelled.
SETTLE_S = 15.0


def _quiet(kind: str, data: dict[str, Any]) -> None:
    log.info("%s %s", kind, data)


def step_limit(setting: int | None, site: int | None) -> int | None:
    """Steps one allocation may run: the smaller of ``sandbox.slurm.max_steps`` and the site's
    ``MaxStepCount`` (None: no limit known)."""
    known = [value for value in (setting, site) if value]
    return min(known) if known else None


def renew_at(limit: int) -> int:
    """The step count at which renewal starts: 90 % of the limit, so calls go on in the old
    allocation while the new one waits in the queue."""
    return max(1, limit - max(1, limit // 10))


class RunAllocation:
    """The allocation(s) of one run; use :func:`open_run_allocation` to share it."""

    def __init__(self, run_id: str, policy: SandboxPolicy, on_event: EventSink | None) -> None:
        self.run_id = run_id
        self._policy = policy
        self._slurm = policy.slurm
        self._emit = on_event or _quiet
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._in_flight: dict[int, int] = {}
        self._retired: list[Allocation] = []
        self._failure: SlurmError | None = None
        self._record = RunRecord.start(self._slurm.state_path, run_id)
        self._heartbeat: Heartbeat | None = None
        self._watcher: threading.Thread | None = None
        self._announced: set[int] = set()
        self._limit: int | None = None
        enclosing = os.environ.get(ENCLOSING_ENV)
        if enclosing:
            self._current: Allocation | None = Allocation(job_id=int(enclosing), owned=False)
            self._record.add_job(int(enclosing), enclosing=True)
            self._emit("slurm_allocation", {"job_id": int(enclosing), "state": "RUNNING", "enclosing": True})
            return
        swept = sweep_orphans()
        if swept:
            self._emit("slurm_sweep", {"cancelled": swept})
        self._limit = step_limit(self._slurm.max_steps, site_max_steps())
        self._heartbeat = Heartbeat(self._slurm.heartbeat_s)
        try:
            self._current = self._acquire(host_waits=True)
        except BaseException:
            self._heartbeat.stop()
            self._record.finish()
            raise
        self._watcher = threading.Thread(target=self._watch, name="avo-slurm-watch", daemon=True)
        self._watcher.start()

    @property
    def current(self) -> Allocation | None:
        return self._current

    @contextmanager
    def use(self) -> Iterator[Allocation]:
        """The allocation a call runs in, held for the call (renewal waits for it). An allocation
        whose steps reached the limit takes no more calls: they wait for its renewal."""
        with self._changed:
            while self._current is None or (self._limit is not None and self._current.steps >= self._limit):
                if self._closed.is_set():
                    raise SandboxClosed(f"the Slurm allocation of run {self.run_id} is released")
                if self._failure is not None:
                    raise self._failure
                self._changed.wait(1.0)
            allocation = self._current
            self._in_flight[allocation.job_id] = self._in_flight.get(allocation.job_id, 0) + 1
        try:
            yield allocation
        finally:
            with self._changed:
                self._in_flight[allocation.job_id] -= 1
            self._release_idle_retired()

    def count_step(self, allocation: Allocation) -> None:
        """A job step is about to start in ``allocation`` (a call's, or a persistent helper's)."""
        with self._changed:
            allocation.steps += 1

    def first_look(self, job_id: int) -> bool:
        """True the first time it is asked about ``job_id``: the run says once where it landed,
        however many sandboxes share the allocation."""
        with self._changed:
            first = job_id not in self._announced
            self._announced.add(job_id)
        return first

    def close(self) -> None:
        """Release every allocation of the run (safe to call twice)."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        if self._watcher is not None:
            self._watcher.join()
        with self._changed:
            held = [a for a in [self._current, *self._retired] if a is not None]
            self._current, self._retired = None, []
        if self._heartbeat is not None:
            self._heartbeat.stop()  # first, so no beat recreates a released allocation's file
        for allocation in held:
            allocation.release()
            if allocation.owned:
                self._emit("slurm_release", {"job_id": allocation.job_id})
        self._record.finish()

    # -- acquiring and keeping ----------------------------------------------------------------

    def _acquire(self, *, host_waits: bool = False) -> Allocation:
        """Submit a holder and wait until it runs. ``host_waits``: the host program itself waits
        (the run's first allocation), so its stop request ends the wait and cancels the job."""
        assert self._heartbeat is not None
        allocation = submit_holder(self._policy, self.run_id, self._heartbeat)
        self._record.add_job(allocation.job_id)
        try:
            wait_running(allocation, self._slurm.poll_s, self._report, self._closed,
                         host_link.check_stop if host_waits else None)
        except BaseException:
            self._drop(allocation)
            raise
        self._emit("slurm_allocation", {"job_id": allocation.job_id, "state": "RUNNING", "node": allocation.node,
                                        "time_left_s": self._time_left(allocation)})
        return allocation

    def _report(self, job: QueuedJob) -> None:
        self._emit("slurm_queue", {"job_id": job.job_id, "state": job.state, "reason": job.reason,
                                   "node": job.nodes})

    def _watch(self) -> None:
        """Renew before the time limit; replace a lost allocation. Never raises."""
        while not self._closed.wait(self._slurm.poll_s):
            current = self._current
            try:
                job = queued_job(current.job_id) if current is not None else None
            except SlurmError as exc:
                log.warning("squeue failed (will retry): %s", exc)
                continue
            if job is not None and job.state == "COMPLETING":
                continue  # ending: cancelled, preempted or failed, which its state says once it is over
            lost = current is not None and job is None
            if lost:
                assert current is not None
                try:
                    state = ended_state(current.job_id)
                except SlurmError:
                    state = None
                if self._cancelled(current, state):
                    return
                self._emit("slurm_lost", {"job_id": current.job_id, "detail": current.log_tail()})
                with self._changed:
                    self._current = None
                self._drop(current)
            elif current is not None and job is not None and not self._renewal_due(job, current):
                continue
            self._replace(current if not lost else None)

    def step_failed(self, allocation: Allocation) -> None:
        """A step in ``allocation`` failed. If a user cancelled the job, that is why: raise that,
        and tell the host now rather than at the watcher's next look (the run would otherwise
        carry on to its next call)."""
        try:
            state = settled_state(allocation.job_id, SETTLE_S)
        except SlurmError:
            return
        if self._cancelled(allocation, state) and self._failure is not None:
            raise self._failure

    def _cancelled(self, current: Allocation, state: str | None) -> bool:
        """Whether a user cancelled the run's job; if so (once, whoever notices first), calls fail
        from now on and the host is told to stop the run. Preemption, node failure and the time
        limit end in other states, and the allocation is replaced."""
        if state != "CANCELLED":
            return False
        detail = f"Slurm job {current.job_id} was cancelled (scancel)"
        with self._changed:
            if self._current is not current:
                return True  # already handled
            self._current = None
            self._failure = SlurmError(f"{detail}: the run stops; resume it with `avo run CONFIG --resume`")
            self._changed.notify_all()
        self._drop(current)
        self._emit("slurm_cancelled", {"job_id": current.job_id})
        host_link.allocation_cancelled(detail)
        return True

    def _renewal_due(self, job: QueuedJob, current: Allocation) -> bool:
        """Whether the job's steps near the step limit, or it ends within ``renew_before_s`` (at
        most 90 % of its whole time limit, so a short limit renews once per allocation, not at
        every look)."""
        if self._limit is not None and current.steps >= renew_at(self._limit):
            return True
        if not job.end_time or not job.start_time:
            return False
        margin = min(self._slurm.renew_before_s, 0.9 * (job.end_time - job.start_time))
        return job.end_time - time.time() < margin

    def _replace(self, old: Allocation | None) -> None:
        """Acquire a new allocation and move new calls to it; the old one is released once idle."""
        if old is not None:
            self._emit("slurm_renewal", {"job_id": old.job_id, "time_left_s": self._time_left(old),
                                         "steps": old.steps, "step_limit": self._limit})
        try:
            new = self._acquire()
        except SlurmError as exc:
            if self._closed.is_set():
                return
            with self._changed:
                self._failure = exc if self._current is None else None
                self._changed.notify_all()
            self._emit("slurm_error", {"error": str(exc)})
            return
        with self._changed:
            self._current, self._failure = new, None
            if old is not None:
                self._retired.append(old)
            self._changed.notify_all()
        if self._closed.is_set():  # closed while acquiring: close() may have missed it
            self._drop(new)
        self._release_idle_retired()

    def _release_idle_retired(self) -> None:
        with self._changed:
            idle = [a for a in self._retired if not self._in_flight.get(a.job_id)]
            self._retired = [a for a in self._retired if a not in idle]
        for allocation in idle:
            self._drop(allocation)
            self._emit("slurm_release", {"job_id": allocation.job_id})

    def _drop(self, allocation: Allocation) -> None:
        if self._heartbeat is not None and allocation.heartbeat is not None:
            self._heartbeat.discard(allocation.heartbeat)  # first, so no beat recreates the file
        allocation.release()

    @staticmethod
    def _time_left(allocation: Allocation) -> int | None:
        return max(0, int(allocation.end_time - time.time())) if allocation.end_time else None


class _Shared:
    """One run's entry in the registry: its lease once acquired, and how many sandboxes use it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while acquiring, by this run only
        self.lease: RunAllocation | None = None
        self.users = 0


_LEASES: dict[str, _Shared] = {}
_LOCK = threading.Lock()  # guards _LEASES only: never held while waiting in the queue


def _key(run_id: str, policy: SandboxPolicy) -> str:
    return run_id + "\0" + policy.slurm.model_dump_json() + "\0" + " ".join(resource_options(policy))


def open_run_allocation(run_id: str, policy: SandboxPolicy, on_event: EventSink | None) -> RunAllocation:
    """The run's allocation, acquired by the first sandbox of the run to ask (which waits in
    the queue for it) and shared with the others."""
    key = _key(run_id, policy)
    with _LOCK:
        shared = _LEASES.setdefault(key, _Shared())
        shared.users += 1
    try:
        with shared.lock:
            if shared.lease is None:
                shared.lease = RunAllocation(run_id, policy, on_event)
            return shared.lease
    except BaseException:
        _leave(key, shared)
        raise


def close_run_allocation(lease: RunAllocation, policy: SandboxPolicy) -> None:
    """Give one sandbox's share back; the last one releases the allocation."""
    key = _key(lease.run_id, policy)
    shared = _LEASES.get(key)
    if shared is None or _leave(key, shared):
        lease.close()


def _leave(key: str, shared: _Shared) -> bool:
    """One user fewer; True when it was the last (the entry is then gone)."""
    with _LOCK:
        shared.users -= 1
        if shared.users > 0:
            return False
        if _LEASES.get(key) is shared:
            del _LEASES[key]
        return True
