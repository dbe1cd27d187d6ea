"""The sandbox as callers see it: ``Sandbox``, ``exec_once`` and ``gc``.

Backend-neutral: it picks the backend the policy names (importing the heavy
one lazily) and speaks to it through :class:`sandbox.backends.Backend` only.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import TracebackType

from .backends import Backend, EventSink, open_backend
from .backends.base import AgentShare, Command, call_labels
from .errors import SandboxClosed
from .policy import SandboxPolicy
from .result import ExecResult


class Sandbox:
    """Runs commands for one run, each in a fresh disposable environment.

    With the docker backend, opening a sandbox removes every avo container whose
    process is gone (a killed run's, whatever its run id) and, if ``policy.pool_size`` > 0,
    starts a warm pool. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, policy: SandboxPolicy, workspace: Path, run_id: str | None = None,
                 purpose: str = "shell", on_event: EventSink | None = None,
                 share: AgentShare = AgentShare()) -> None:
        self.policy = policy
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id or f"adhoc-{uuid.uuid4().hex[:12]}"
        self.purpose = purpose
        self._backend: Backend | None = open_backend(
            policy, self.workspace, call_labels(self.run_id, policy.tenant, purpose), on_event, share)

    def exec(self, command: Command, stdin: bytes | None = None,
             timeout_s: float | None = None) -> ExecResult:
        """Run ``command`` (argv list, or shell string for /bin/sh -c) in the workspace.

        ``timeout_s`` can only lower the policy's deadline, never raise it.
        A non-zero exit, a timeout (exit 124) or an OOM kill (exit 137) is a result;
        only infrastructure faults raise (see :mod:`sandbox.errors`).
        """
        if self._backend is None:
            raise SandboxClosed(f"sandbox of run {self.run_id} is closed")
        limit = self.policy.timeout_s
        return self._backend.run(command, stdin=stdin, timeout_s=min(timeout_s or limit, limit))

    def close(self) -> None:
        """Release the backend (and its warm pool); safe to call twice."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def exec_once(command: Command, policy: SandboxPolicy, workspace: Path, *, stdin: bytes | None = None,
              run_id: str | None = None, purpose: str = "exec") -> ExecResult:
    """Run one command in one disposable container (no warm pool: it would be wasted)."""
    with Sandbox(policy.model_copy(update={"pool_size": 0}), workspace, run_id, purpose) as sandbox:
        return sandbox.exec(command, stdin=stdin)


def gc(run_id: str | None = None, tenant: str | None = None, *, force: bool = False,
       policy: SandboxPolicy | None = None) -> int:
    """Remove avo's leftover containers (all, or one run's or tenant's); returns the count.

    Only containers whose labelling process is gone (same host, same PID and start
    time) are removed, so a live run keeps its containers; ``force`` removes those
    too (for a run known to be dead on another host sharing the daemon). Under
    ``backend: broker`` the broker removes the caller's own containers only.
    """
    if policy is not None and policy.backend == "broker":
        from .backends.broker import broker_request

        return int(broker_request(policy.broker_socket, {"kind": "gc", "run_id": run_id})["removed"])
    from .backends.docker import remove_labelled

    return remove_labelled(run_id=run_id, tenant=tenant, stale_only=not force).removed
