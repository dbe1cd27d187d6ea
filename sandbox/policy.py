"""Limits and hardening of a sandboxed call, as one typed policy.

The policy is pure data: it says *what* a call may do, never *how* a backend
enforces it (``backends.docker.options`` turns it into container options in one place).
Defaults are the hardened ones; loosening anything is an explicit line of config.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .slurm_policy import SlurmPolicy

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: No size above this is meant (1 PiB); Docker's int64 fields would overflow not far above.
MAX_SIZE = 1024**5
#: Floors of the limits: Docker reads 0 as "no limit", and a cgroup or tmpfs smaller than
#: these cannot even start a shell, so a smaller value is a mistake or an attack.
MIN_MEMORY = 16 * 1024**2
MIN_FS_SIZE = 1024**2

#: Variables that must never be chosen for the container by anyone but the sandbox:
#: they steer the dynamic loader or the NVIDIA runtime's device selection.
FORBIDDEN_ENV_PREFIXES = ("LD_", "NVIDIA_", "CUDA_VISIBLE_DEVICES", "DOCKER_")
#: Bounds of any list in a policy and of a GPU request, whatever the backend (the broker's
#: host policy caps them lower): a request is data, and must not cost unbounded work.
MAX_LIST = 1024
MAX_GPUS = 64
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _human(nbytes: int) -> str:
    return f"{nbytes // 1024**2} MiB" if nbytes >= 1024**2 else f"{nbytes} byte" + "s" * (nbytes != 1)


def parse_size(value: str | int, *, floor: int = 1) -> int:
    """Bytes from ``"2g"``, ``"512m"``, ``"1.5GiB"`` or an int (binary units: 4g = 4 GiB).

    Every size here becomes a limit, and Docker reads 0 as *unlimited*: so a size that
    is (or truncates to) fewer than ``floor`` bytes is refused, never rounded to 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"not a size: {value!r} (use e.g. 512m, 2g)")
    if isinstance(value, int):
        nbytes = value
    else:
        match = _SIZE.match(value) if len(value) <= 32 else None
        if not match:
            raise ValueError(f"not a size: {value!r} (use e.g. 512m, 2g)")
        nbytes = int(Decimal(match.group(1)) * _UNITS[match.group(2).lower()])
    if nbytes < floor:
        raise ValueError(f"size {value!r} is {nbytes} bytes; this limit must be at least {_human(floor)} "
                         f"(a limit of 0 would mean none): use e.g. 512m")
    if nbytes > MAX_SIZE:
        raise ValueError(f"size {value!r} is over 1 PiB: use e.g. 512m, 2g")
    return nbytes


def container_path(value: str) -> str:
    """``value`` as one canonical absolute path (``//a/./b/`` -> ``/a/b``), so two spellings of
    one place compare equal; ``..`` and relative paths are refused, never resolved."""
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise ValueError(f"container path must be absolute: {value!r}")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"container path may not contain '..': {value!r}")
    return "/" + "/".join(parts)


def nested(inner: str, outer: str) -> bool:
    """True when canonical container path ``inner`` lies strictly below ``outer``."""
    return inner != outer and (outer == "/" or inner.startswith(outer + "/"))


class ReadOnlyMount(BaseModel):
    """A host path exposed read-only inside the container (scorer, harness, data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Path
    container: str

    @field_validator("host")
    @classmethod
    def _no_nul(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a host path may not contain a NUL byte")
        return value

    @field_validator("container")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return container_path(value)


class GpuSelection(BaseModel):
    """Which GPUs a call may see. ``none`` by default; ``all`` is refused on shared hosts
    unless ``allow_all`` is set, because it exposes every tenant's device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["none", "all", "count", "devices"] = "none"
    count: int | None = Field(default=None, le=MAX_GPUS)
    device_ids: list[str] = Field(default_factory=list, max_length=MAX_GPUS)

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
    """Everything a disposable call is allowed: resources, mounts, network, devices.

    Every number is bounded on both sides here, for every backend: Docker reads 0 as "no
    limit" and an int64 overflow as an error, so neither may get through. The broker's host
    policy caps them further per tenant.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    backend: Literal["docker", "local", "broker", "slurm"] = "docker"
    image: str = "avo-sandbox:cpu"
    runtime: str | None = None  # None = engine default (runc); "nvidia"; "runsc" (gVisor)
    cpus: float = Field(default=2.0, ge=0.01, le=4096)  # Docker's NanoCpus: 0 would mean unlimited
    memory: str = "4g"
    pids_limit: int = Field(default=512, ge=16, le=4_194_304)  # the kernel's pid_max ceiling
    timeout_s: float = Field(default=600.0, gt=0, le=30 * 86400)
    output_limit_bytes: int = Field(default=1_000_000, ge=1024, le=MAX_SIZE)
    network: Literal["none", "bridge"] = "none"
    gpus: GpuSelection = Field(default_factory=GpuSelection)
    tmpfs_size: str = "512m"
    shm_size: str = "256m"
    nofile: int = Field(default=1024, ge=64, le=1_048_576)  # the kernel's default nr_open
    max_file_size: str = "2g"
    workdir: str = "/workspace"
    user: str | None = None  # None: host uid:gid unless root, else a fixed unprivileged uid
    read_only_mounts: list[ReadOnlyMount] = Field(default_factory=list, max_length=MAX_LIST)
    env: dict[str, str] = Field(default_factory=dict, max_length=MAX_LIST)
    env_allowlist: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    tenant: str = "default"
    pool_size: int = Field(default=0, ge=0)
    #: ``backend: broker`` only: the socket of the host's avo-sandboxd, and whether a call
    #: waits for a busy GPU or container slot (False: fail at once, naming the holders).
    broker_socket: str = "/run/avo/sandboxd.sock"
    broker_wait: bool = True
    slurm: SlurmPolicy = Field(default_factory=SlurmPolicy)  # with backend slurm: the allocation
    allow_all_gpus: bool = False  # gpus: all is refused without it (every tenant's devices)
    #: Per-problem packages: installed into an image derived from ``image`` (``problem_image``).
    packages: list[str] = Field(default_factory=list, max_length=MAX_LIST)
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
    def _size(cls, value: str, info: ValidationInfo) -> str:
        parse_size(value, floor=MIN_MEMORY if info.field_name == "memory" else MIN_FS_SIZE)
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str) -> str:
        return container_path(value)

    @field_validator("env", "env_allowlist")
    @classmethod
    def _no_loader_or_runtime_vars(cls, value):  # type: ignore[no-untyped-def]
        names = value.keys() if isinstance(value, dict) else value
        for name in names:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
            if name.upper().startswith(FORBIDDEN_ENV_PREFIXES):
                raise ValueError(f"environment variable {name} may not be set for the sandbox")
        if isinstance(value, dict) and any("\0" in text for text in value.values()):
            raise ValueError("an environment value may not contain a NUL byte")
        return value

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    def with_mounts(self, *mounts: ReadOnlyMount) -> "SandboxPolicy":
        """A copy with more read-only mounts (the scorer, the harness)."""
        return self.model_copy(update={"read_only_mounts": [*self.read_only_mounts, *mounts]})
