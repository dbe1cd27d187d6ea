"""The host's policy for the broker (``/etc/avo/sandboxd.yaml``), validated with pydantic.

The admin, not the tenant, decides here what each tenant (a user, or the members of
a group) may ask for: images, runtimes, network modes, limits per call, how many
containers at once, which GPUs, and where its workspaces may live. Anything not
listed is denied; a caller without an entry is refused. A user's own entry wins
over group entries; among group entries the first one in file order that names
one of the caller's groups applies.
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ..errors import SandboxError
from ..policy import MIN_FS_SIZE, MIN_MEMORY, container_path, parse_size
from .limits import BrokerLimits

DEFAULT_PATH = Path("/etc/avo/sandboxd.yaml")
#: Container paths the broker fills itself from root-owned files, whatever a caller asks:
#: the call harness and the scoring library a scorer imports (``orchestrator``, and ``avo``, its public names).
HARNESS_TARGET = "/opt/avo/harness"
LIBRARY_TARGET = "/opt/avo/lib/orchestrator"
PUBLIC_LIBRARY_TARGET = "/opt/avo/lib/avo"


class HostPolicyError(SandboxError, ValueError):
    """The host policy file is missing, unreadable or invalid; the message names the key."""


class GpuDevice(BaseModel):
    """One physical GPU of the host, and the CPU cores the admin pairs with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    uuid: str = Field(pattern=r"^GPU-[0-9A-Za-z-]+$")
    cpus: str | None = Field(default=None, pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


class TenantRule(BaseModel):
    """What one user, or every member of one group, may ask the broker for."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    user: str | None = None
    group: str | None = None
    images: list[str] = Field(default_factory=list)
    runtimes: list[Literal["runc", "runsc", "nvidia"]] = Field(default_factory=lambda: ["runc"])
    networks: list[Literal["none", "bridge"]] = Field(default_factory=lambda: ["none"])
    max_containers: int = Field(default=2, ge=1)
    max_pool: int = Field(default=2, ge=0)
    max_cpus: float = Field(default=2.0, ge=0.01)
    max_memory: str = "4g"
    max_tmpfs: str = "1g"  # the call's /tmp (tmpfs_size); charged to its memory, but capped on its own too
    max_shm: str = "1g"  # its /dev/shm (shm_size)
    max_file_size: str = "2g"  # the largest file a call may write (RLIMIT_FSIZE)
    max_nofile: int = Field(default=4096, ge=64)  # open files per process (RLIMIT_NOFILE)
    max_pids: int = Field(default=512, ge=16)
    max_timeout_s: float = Field(default=3600.0, gt=0)
    max_output_bytes: int = Field(default=10_000_000, ge=1024)  # the broker holds a call's output
    #: Each read-only mount is a bind mount in the host's mount table (fs.mount-max).
    max_read_only_mounts: int = Field(default=16, ge=0)
    max_env_vars: int = Field(default=64, ge=0)
    max_env_bytes: int = Field(default=65536, ge=0)  # names and values together
    max_sessions: int = Field(default=16, ge=1)  # run sessions (client connections) at once
    gpus: list[int | str] = Field(default_factory=list)
    max_gpus: int = Field(default=0, ge=0)
    workspace_roots: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_subject(self) -> "TenantRule":
        if (self.user is None) == (self.group is None):
            raise ValueError("each tenant entry names exactly one of `user` or `group`")
        return self

    @field_validator("max_memory", "max_tmpfs", "max_shm", "max_file_size")
    @classmethod
    def _size(cls, value: str, info: ValidationInfo) -> str:
        parse_size(value, floor=MIN_MEMORY if info.field_name == "max_memory" else MIN_FS_SIZE)
        return value

    @field_validator("workspace_roots")
    @classmethod
    def _plain_absolute(cls, roots: list[str]) -> list[str]:
        for root in roots:
            parts = root.split("/")
            if not root.startswith("/") or root == "/" or any(p in ("", ".", "..") for p in parts[1:]):
                raise ValueError(f"workspace root {root!r} must be an absolute, normalised path other than /")
        return roots

    @property
    def subject(self) -> str:
        return f"user {self.user}" if self.user else f"group {self.group}"

    @property
    def max_memory_bytes(self) -> int:
        return parse_size(self.max_memory)

    def roots_for(self, user: str) -> list[str]:
        """The workspace roots with ``{user}`` replaced by the caller's name."""
        return [root.replace("{user}", user) for root in self.workspace_roots]


class HostPolicy(BaseModel):
    """Everything ``avo-sandboxd`` reads at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="sandboxd", pattern=r"^[A-Za-z0-9_.-]+$")
    socket: Path = Path("/run/avo/sandboxd.sock")
    socket_group: str = "avo-tenants"
    state_dir: Path = Path("/run/avo/sandboxd")
    audit_log: Path = Path("/var/log/avo/sandboxd.jsonl")
    gpu_group: str | None = None
    gpus: list[GpuDevice] = Field(default_factory=list)
    supplied_mounts: dict[str, Path] = Field(default_factory=dict)
    tenants: list[TenantRule] = Field(default_factory=list)
    limits: BrokerLimits = Field(default_factory=BrokerLimits)

    @field_validator("supplied_mounts")
    @classmethod
    def _canonical_targets(cls, mounts: dict[str, Path]) -> dict[str, Path]:
        return {container_path(target): source for target, source in mounts.items()}

    @model_validator(mode="after")
    def _unique(self) -> "HostPolicy":
        for kind in ("index", "uuid"):
            values = [getattr(gpu, kind) for gpu in self.gpus]
            if len(set(values)) != len(values):
                raise ValueError(f"two GPUs share the {kind} {values}")
        users = [rule.user for rule in self.tenants if rule.user]
        if len(set(users)) != len(users):
            raise ValueError(f"a user has two entries: {users}")
        return self

    def rule_for(self, user: str, groups: list[str]) -> TenantRule | None:
        """The caller's entry: its own, else the first group entry naming one of its groups."""
        for rule in self.tenants:
            if rule.user == user:
                return rule
        for rule in self.tenants:
            if rule.group in groups:
                return rule
        return None

    def harness_sources(self) -> dict[str, Path]:
        """Container path -> root-owned host path the broker mounts read-only itself."""
        sources = {HARNESS_TARGET: Path(__file__).resolve().parent.parent / "harness"}
        for target, package in ((LIBRARY_TARGET, "orchestrator"), (PUBLIC_LIBRARY_TARGET, "avo")):
            library = _installed_package(package)
            if library is not None:
                sources[target] = library
        sources.update(self.supplied_mounts)
        return sources


def _installed_package(name: str) -> Path | None:
    """Where a package lies, found without importing it (the broker never imports the agent)."""
    from importlib.util import find_spec

    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def load_host_policy(path: Path = DEFAULT_PATH) -> HostPolicy:
    """Read and validate the host policy; one line naming the file and the key on error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HostPolicyError(f"{path}: no host policy: write one (docs/multi-tenant.md, 'The host policy'); "
                              f"without it every tenant is denied") from None
    except (OSError, yaml.YAMLError) as exc:
        raise HostPolicyError(f"{path}: cannot read the host policy: {exc}") from exc
    try:
        return HostPolicy.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(top level)"
        raise HostPolicyError(f"{path}: {where}: {first['msg']}"
                              + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")) from exc


def account_groups(user: str) -> list[str]:
    """The names of the groups the account database puts ``user`` in (primary included)."""
    entry = pwd.getpwnam(user)
    names = []
    for gid in os.getgrouplist(user, entry.pw_gid):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names
