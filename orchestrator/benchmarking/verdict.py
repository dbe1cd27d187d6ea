"""What every scoring job outside a run reports: its verdict, exit status and where it ran.

The exit statuses are the CI contract: 0 correct and not slower than allowed,
1 incorrect, 3 slower than the tolerance allows, 2 the job could not judge
(usage or infrastructure: no Docker, missing image, a broken scorer or baseline).
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.config import EvolutionConfig

__all__ = ["EXIT_CODES", "EXIT_ERROR", "JobEnvironment", "JobError", "JobResult", "Verdict"]

Verdict = Literal["ok", "incorrect", "regressed"]
EXIT_CODES: dict[Verdict, int] = {"ok": 0, "incorrect": 1, "regressed": 3}
EXIT_ERROR = 2


class JobEnvironment(BaseModel):
    """Where the numbers were taken: scores from different hardware never compare."""

    model_config = ConfigDict(extra="forbid")

    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    host: str = Field(default_factory=socket.gethostname)
    backend: str
    image: str
    runtime: str | None
    gpus: str

    @classmethod
    def of(cls, config: EvolutionConfig) -> "JobEnvironment":
        policy = config.sandbox
        gpus = policy.gpus
        selection = {"none": "none", "all": "all", "count": f"count={gpus.count}",
                     "devices": ",".join(gpus.device_ids)}[gpus.mode]
        return cls(backend=policy.backend, image=policy.image, runtime=policy.runtime, gpus=selection)


class JobError(BaseModel):
    """The stable JSON a job writes when it could not judge (exit status 2)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    kind: Literal["avo-eval", "avo-rebench"]
    verdict: Literal["error"] = "error"
    exit_code: Literal[2] = EXIT_ERROR
    summary: str


class JobResult(BaseModel):
    """What every job's stable JSON result (``--json``) holds; ``format`` changes only with its shape."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    kind: Literal["avo-eval", "avo-rebench"]
    project: str
    config: str
    environment: JobEnvironment
    rounds: int
    tolerance: float
    verdict: Verdict
    exit_code: int
    summary: str
