"""The typed outcome of one sandboxed call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: Exit codes the CLI and callers use for a call ended by the sandbox itself.
EXIT_TIMEOUT = 124
EXIT_OOM = 137


class ExecResult(BaseModel):
    """What one command did inside its disposable container.

    ``exit_code`` is the command's own status; when the sandbox ended the call it is
    124 (``timed_out``) or 137 (``oom_killed``), matching coreutils ``timeout`` and
    the kernel's SIGKILL convention so shells and CI read it naturally.
    """

    model_config = ConfigDict(frozen=True)

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float = 0.0
    timed_out: bool = False
    oom_killed: bool = False
    container_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed
