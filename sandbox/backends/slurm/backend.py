"""The slurm backend: calls run in the run's allocation, in the node's hardened container.

The agent stays on the login node (keys, egress); each call goes to avo's helper on the
allocated node, a persistent job step of the allocation (:mod:`.helper_step`; or one
``srun --jobid J --overlap`` per call, the fallback), which runs it through the node
backend (the docker backend's own code) with exactly the GPUs Slurm gave the step. Output, exit codes (124 on timeout, 137 on OOM), deadlines and
output caps are therefore the docker backend's. At start the backend checks that
the node sees the workspace (a nonce written here, read there) and has the image.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from pathlib import Path
from typing import Any

from ...errors import ImageMissing, PolicyError, SlurmError
from ...policy import SandboxPolicy
from ...result import ExecResult
from ..base import LABEL_RUN, Command, EventSink, call_environment, shell_script
from .allocation import SHARED_FS_FIX, Allocation
from .helper_step import HelperStep
from .lease import SETTLE_S, RunAllocation, close_run_allocation, open_run_allocation
from .queue import settled_state
from .steps import helper_python, run_helper
from .wire import LABEL_CALL, CallRequest, ProbeRequest, Reply, SweepRequest

log = logging.getLogger("avo.sandbox.slurm")

#: Time a start-of-run check or a sweep step may take (helper start-up and one engine call).
CHECK_TIMEOUT_S = 120.0


class SlurmBackend:
    """Calls run as job steps in one allocation held for the run (see the module docstring)."""

    def __init__(self, policy: SandboxPolicy, workspace: Path, labels: dict[str, str],
                 on_event: EventSink | None = None, *, allocation: str | None = None) -> None:
        """``allocation`` (one agent of a run with several): the sandboxes that name it share a holder
        allocation of their own, recorded and named as run ``<run id>-<allocation>``."""
        if policy.gpus.requested:
            raise PolicyError("with sandbox.backend: slurm, the GPUs come from the allocation: set "
                              "sandbox.slurm.gres (e.g. gpu:1) and leave sandbox.gpus at none")
        self._workspace = workspace
        self._labels = labels
        self._python = helper_python(policy.slurm.python)
        self._grace = policy.slurm.step_grace_s
        # The node resolves nothing from the login side's environment: allow-listed values travel here.
        self._node_policy = policy.model_copy(update={"env": call_environment(policy), "env_allowlist": []})
        self._reply_limit = 8 * policy.output_limit_bytes + 2**20  # JSON may escape every byte
        self._helpers: dict[int, HelperStep] = {}  # job id -> its persistent helper
        self._per_call_jobs: set[int] = set()  # jobs whose helper could not start: one step per call
        self._helpers_lock = threading.Lock()
        holder = labels[LABEL_RUN] + (f"-{allocation}" if allocation else "")
        self._lease: RunAllocation | None = open_run_allocation(holder, policy, on_event)
        self._policy = policy
        self.node_gpus: list[str] = []
        self.node = ""
        self.step_env_names: list[str] = []  # what a step on the node was given, for the record
        try:
            self._check_node()
            if on_event is not None and self.job_id is not None and self._lease.first_look(self.job_id):
                on_event("slurm_node", {"job_id": self.job_id, "node": self.node, "gpus": self.node_gpus})
        except BaseException:
            self.close()
            raise

    @property
    def job_id(self) -> int | None:
        """The job whose allocation new calls go to (changes when the allocation is renewed)."""
        current = self._lease.current if self._lease else None
        return current.job_id if current else None

    def run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        call = secrets.token_hex(8)
        request = CallRequest(policy=self._node_policy, workspace=str(self._workspace),
                              labels={**self._labels, LABEL_CALL: call}, script=shell_script(command),
                              stdin_b64=base64.b64encode(stdin or b"").decode(), timeout_s=timeout_s)
        reply = self._step("call", request, timeout_s + self._grace, sweep_call=call)
        if reply.result is None:
            raise SlurmError(f"the node helper on {reply.node} returned no result")
        return reply.result

    def plan(self) -> Reply:
        """The container options a call would get on the node (device requests, NVIDIA_*
        variables, labels, user), built by the helper from its step's environment."""
        request = CallRequest(policy=self._node_policy, workspace=str(self._workspace), labels=self._labels,
                              script="true", timeout_s=1.0)
        return self._step("plan", request, CHECK_TIMEOUT_S)

    def close(self) -> None:
        self._close_helpers()
        lease, self._lease = self._lease, None
        if lease is not None:
            close_run_allocation(lease, self._policy)

    def _step(self, action: str, request: Any, timeout_s: float, sweep_call: str | None = None) -> Reply:
        if self._lease is None:
            raise SlurmError("the slurm backend is closed")
        lease = self._lease
        with lease.use() as allocation:
            try:
                helper = self._helper(lease, allocation)
                if helper is not None:
                    return helper.request(action, request, timeout_s)
                lease.count_step(allocation)
                return run_helper(allocation.job_id, action, request, python=self._python, timeout_s=timeout_s,
                                  reply_limit=self._reply_limit)
            except BaseException as exc:
                if isinstance(exc, SlurmError):  # raises why instead, if a user cancelled the job
                    lease.step_failed(allocation)  # (then its holder sweeps the node)
                if sweep_call is not None:
                    self._sweep(allocation.job_id, {LABEL_CALL: sweep_call})
                raise

    def _helper(self, lease: RunAllocation, allocation: Allocation) -> HelperStep | None:
        """The persistent helper of ``allocation``, started on first use (restarted if it died);
        None: one step per call (configured so, or the helper could not start in this job)."""
        if not self._policy.slurm.persistent_helper:
            return None
        with self._helpers_lock:
            for job_id in [j for j in self._helpers if j != allocation.job_id]:  # renewed: the old job's goes
                self._helpers.pop(job_id).close()
            helper = self._helpers.get(allocation.job_id)
            if helper is not None and helper.alive:
                return helper
            if allocation.job_id in self._per_call_jobs:
                return None
            lease.count_step(allocation)
            try:
                helper = HelperStep(allocation.job_id, self._python, self._reply_limit)
            except SlurmError as exc:
                log.warning("one step per call in job %s: %s", allocation.job_id, exc)
                self._per_call_jobs.add(allocation.job_id)
                return None
            self._helpers[allocation.job_id] = helper
            return helper

    def _close_helpers(self) -> None:
        with self._helpers_lock:
            helpers, self._helpers = list(self._helpers.values()), {}
        for helper in helpers:
            helper.close()

    def _sweep(self, job_id: int, labels: dict[str, str]) -> None:
        """Remove a lost or interrupted call's container on the node (best effort: the holder
        sweeps its allocation's containers when it ends in any case). Under a broker there is
        nothing to do: the broker removes a session's containers when the step's connection closes."""
        if self._policy.slurm.node_backend == "broker":
            return
        try:
            run_helper(job_id, "sweep", SweepRequest(labels=labels), python=self._python,
                       timeout_s=CHECK_TIMEOUT_S, reply_limit=2**20)
        except SlurmError as exc:
            log.warning("could not sweep the containers of call %s in job %s: %s", labels, job_id, exc)

    def _check_node(self) -> None:
        """The node sees the workspace and the state folder, and has the image."""
        nonce = secrets.token_hex(16)
        files = [self._workspace / f".avo-nonce-{nonce[:8]}"]
        assert self._lease is not None
        current = self._lease.current
        if current is not None and current.heartbeat is not None:
            files.append(current.heartbeat.parent / f"nonce-{nonce[:8]}")
        try:
            for path in files:
                path.write_text(nonce, encoding="utf-8")
            broker = self._policy.broker_socket if self._policy.slurm.node_backend == "broker" else None
            try:
                reply = self._step("probe", ProbeRequest(nonces={str(p): nonce for p in files},
                                                         image=self._policy.image, broker_socket=broker),
                                   CHECK_TIMEOUT_S)
            except SlurmError:
                if current is not None and settled_state(current.job_id, SETTLE_S) != "RUNNING":
                    raise SlurmError(current.why_ended()) from None  # the holder left: say why, not "no helper"
                raise
        finally:
            for path in files:
                path.unlink(missing_ok=True)
        self.node, self.node_gpus, self.step_env_names = reply.node, reply.gpus, reply.env_names
        if reply.missing:
            raise SlurmError(f"node {reply.node} does not see {', '.join(reply.missing)} written on this "
                             f"node: {SHARED_FS_FIX}")
        if not reply.image_present:
            raise ImageMissing(f"image {self._policy.image} is not present on node {reply.node}: load it "
                               "there (`docker load` from a `docker save` of it), it is never pulled")
