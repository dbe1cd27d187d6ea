"""Limits and hardening of a sandboxed call, as one typed policy.

The policy is pure data: it says *what* a call may do, never *how* a backend
enforces it (``backends.docker.options`` turns it into container options in one place).
Defaults are the hardened ones; loosening anything is an explicit line of config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .slurm_policy import SlurmPolicy

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

#: Variables that must never be chosen for the container by anyone but the sandbox:
#: they steer the dynamic loader or the NVIDIA runtime's device selection.
FORBIDDEN_ENV_PREFIXES = ("LD_", "NVIDIA_", "CUDA_VISIBLE_DEVICES", "DOCKER_")


def parse_size(value: str | int) -> int:
    """Bytes from ``"2g"``, ``"512m"``, ``"1.5GiB"`` or an int."""
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"size must be positive, got {value}")
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 512m, 2g)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class ReadOnlyMount(BaseModel):
    """A host path exposed read-only inside the container (scorer, harness, data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Path
    container: str

    @field_validator("container")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"container path must be absolute and plain: {value!r}")
        return value


class GpuSelection(BaseModel):
    """Which GPUs a call may see. ``none`` by default; ``all`` is refused on shared hosts
    unless ``allow_all`` is set, because it exposes every tenant's device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["none", "all", "count", "devices"] = "none"
    count: int | None = None
    device_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "GpuSelection":
        if self.mode == "count" and not (self.count and self.count > 0):
            raise ValueError("gpus mode 'count' needs a positive count")
        if self.mode == "devices" and not self.device_ids:
            raise ValueError("gpus mode 'devices' needs device_ids")
        return self

    @classmethod
    def parse(cls, spec: "str | int | list | dict | GpuSelection | None") -> "GpuSelection":
        """Accept the spellings a user writes.

        An int is a count (``gpus: 2`` in YAML); ``count=N`` is a count too. Any other
        string names devices (``"0"``, ``"0,1"``, ``device=GPU-3f2a...``): on a shared
        host a tenant names the devices it owns, so a bare ``"0"`` means device 0, never
        "no GPU". ``none`` and ``all`` mean what they say.
        """
        if spec is None or isinstance(spec, GpuSelection):
            return spec or cls()
        if isinstance(spec, dict):
            return cls.model_validate(spec)
        if isinstance(spec, bool):
            raise ValueError("gpus must be none, all, a count or device ids")
        if isinstance(spec, int):
            return cls(mode="count", count=spec) if spec > 0 else cls()
        if isinstance(spec, list):
            return cls(mode="devices", device_ids=[str(d) for d in spec])
        text = str(spec).strip()
        if text.lower() in ("", "none"):
            return cls()
        if text.lower() == "all":
            return cls(mode="all")
        if text.lower().startswith("count="):
            return cls(mode="count", count=int(text.split("=", 1)[1]))
        if text.lower().startswith("device="):
            text = text.split("=", 1)[1]
        return cls(mode="devices", device_ids=[p.strip() for p in text.split(",") if p.strip()])

    @property
    def requested(self) -> bool:
        return self.mode != "none"


class SandboxPolicy(BaseModel):
    """Everything a disposable call is allowed: resources, mounts, network, devices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["docker", "local", "broker", "slurm"] = "docker"
    image: str = "avo-sandbox:cpu"
    runtime: str | None = None  # None = engine default (runc); "nvidia"; "runsc" (gVisor)
    cpus: float = Field(default=2.0, gt=0)
    memory: str = "4g"
    pids_limit: int = Field(default=512, ge=16)
    timeout_s: float = Field(default=600.0, gt=0)
    output_limit_bytes: int = Field(default=1_000_000, ge=1024)
    network: Literal["none", "bridge"] = "none"
    gpus: GpuSelection = Field(default_factory=GpuSelection)
    tmpfs_size: str = "512m"
    shm_size: str = "256m"
    nofile: int = Field(default=1024, ge=64)
    max_file_size: str = "2g"
    workdir: str = "/workspace"
    user: str | None = None  # None: host uid:gid unless root, else a fixed unprivileged uid
    read_only_mounts: list[ReadOnlyMount] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    env_allowlist: list[str] = Field(default_factory=list)
    tenant: str = "default"
    pool_size: int = Field(default=0, ge=0)
    #: ``backend: broker`` only: the socket of the host's avo-sandboxd, and whether a call
    #: waits for a busy GPU or container slot (False: fail at once, naming the holders).
    broker_socket: str = "/run/avo/sandboxd.sock"
    broker_wait: bool = True
    slurm: SlurmPolicy = Field(default_factory=SlurmPolicy)  # with backend slurm: the allocation
    allow_all_gpus: bool = False  # gpus: all is refused without it (every tenant's devices)
    #: Per-problem packages: installed into an image derived from ``image`` (``problem_image``).
    packages: list[str] = Field(default_factory=list)
    requirements: Path | None = None

    @field_validator("packages")
    @classmethod
    def _requirement_specifiers(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry.strip() or entry.strip().startswith("-"):
                raise ValueError(f"{entry!r} is not a package requirement (pip options are not accepted here)")
        return [entry.strip() for entry in value]

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, value: object) -> GpuSelection:
        return GpuSelection.parse(value)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _all_gpus_only_when_allowed(self) -> "SandboxPolicy":
        if self.gpus.mode == "all" and not self.allow_all_gpus:
            raise ValueError("gpus: all exposes every GPU of the host, other tenants' included: name the "
                             "devices (gpus: \"0,1\") or a count (gpus: 2), or set allow_all_gpus: true "
                             "on a host that is yours alone")
        return self

    @field_validator("memory", "tmpfs_size", "shm_size", "max_file_size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)
        return value

    @field_validator("env", "env_allowlist")
    @classmethod
    def _no_loader_or_runtime_vars(cls, value):  # type: ignore[no-untyped-def]
        names = value.keys() if isinstance(value, dict) else value
        for name in names:
            if name.upper().startswith(FORBIDDEN_ENV_PREFIXES):
                raise ValueError(f"environment variable {name} may not be set for the sandbox")
        return value

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    def with_mounts(self, *mounts: ReadOnlyMount) -> "SandboxPolicy":
        """A copy with more read-only mounts (the scorer, the harness)."""
        return self.model_copy(update={"read_only_mounts": [*self.read_only_mounts, *mounts]})
