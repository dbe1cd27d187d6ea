"""Where a slurm-backed run's calls go: the allocation it holds, and how it is kept alive.

Pure data, embedded in :class:`sandbox.policy.SandboxPolicy` as ``sandbox.slurm``;
``backends.slurm`` turns it into ``sbatch`` options. ``None`` leaves a choice to the
site's defaults (the partition's time limit, the account's default QOS, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .sbatch_guard import refused_extra_arg


class SlurmPolicy(BaseModel):
    """The allocation a run holds for its lifetime, and the timing of its heartbeat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gres: str | None = None  # e.g. "gpu:1" or "gpu:h100:2": the GPUs every call's container gets
    time: str | None = None  # Slurm's format ("4:00:00", "2-00:00:00"); None: the partition's default
    cpus_per_task: int | None = Field(default=None, gt=0)  # None: sandbox.cpus rounded up
    mem: str | None = None  # e.g. "16G"; None: sandbox.memory
    extra_args: list[str] = Field(default_factory=list)  # more sbatch options, e.g. ["--constraint=h100"]
    node_backend: Literal["docker", "broker"] = "docker"
    #: Folder on a filesystem shared with the nodes: holder scripts, heartbeats, logs, run records.
    state_dir: Path = Path("~/.avo/slurm")
    #: The Python that runs avo's helper on the nodes; None: the login side's own interpreter.
    python: str | None = None
    heartbeat_s: float = Field(default=5.0, gt=0)
    stale_after_s: float = Field(default=30.0, gt=0)
    poll_s: float = Field(default=5.0, gt=0)  # squeue while queued, and for the time left
    renew_before_s: float = Field(default=600.0, ge=0)  # a new allocation this long before the old ends
    step_grace_s: float = Field(default=60.0, gt=0)  # past a call's deadline before its step counts as lost
    #: Job steps one allocation may run before it is renewed; the site's MaxStepCount caps it.
    max_steps: int | None = Field(default=None, gt=0)
    #: Calls go to one long-lived helper step per allocation; False: one job step per call.
    persistent_helper: bool = True

    @field_validator("extra_args")
    @classmethod
    def _not_reserved(cls, value: list[str]) -> list[str]:
        for arg in value:
            problem = refused_extra_arg(arg)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _heartbeat_before_stale(self) -> "SlurmPolicy":
        if self.stale_after_s < 3 * self.heartbeat_s:
            raise ValueError("stale_after_s must be at least 3 heartbeats (3 x heartbeat_s), or a slow "
                             "filesystem would end a live run's allocation")
        return self

    @property
    def state_path(self) -> Path:
        return self.state_dir.expanduser()
