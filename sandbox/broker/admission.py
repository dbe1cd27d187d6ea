"""What a tenant asked for, checked against its entry of the host policy, and what it gets.

Pure (no engine, no filesystem): the requested policy is validated by the sandbox's own
model (so an option that does not exist, such as ``privileged`` or ``cap_add``, is
refused by name), every limit is compared with the tenant's, and what no caller may
choose is forced: its own uid:gid (never 0), its tenant label, the docker backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from ..errors import PolicyError
from ..policy import SandboxPolicy, nested, parse_size
from .host_policy import HARNESS_TARGET, LIBRARY_TARGET, TenantRule
from .peer import Peer


def _validated(requested: dict[str, Any]) -> SandboxPolicy:
    try:
        return SandboxPolicy.model_validate(requested)
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            where = ".".join(map(str, error["loc"]))
            if error["type"] == "extra_forbidden":
                reasons.append(f"{where}: not a sandbox option, and never granted by the broker")
            else:
                reasons.append(f"{where}: {error['msg']}")
        raise PolicyError("refused: " + "; ".join(reasons)) from None


#: Container paths the broker itself fills in every session besides the supplied mounts:
#: the call's /tmp and /dev/shm (tmpfs). The workspace target (``workdir``) joins them.
BROKER_TARGETS = ("/tmp", "/dev/shm")


def _shown(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def _limit_reasons(policy: SandboxPolicy, rule: TenantRule) -> list[str]:
    """Each numeric option against its cap in the tenant's entry (sizes compared in bytes)."""
    sizes = [("memory", policy.memory, "max_memory", rule.max_memory),
             ("tmpfs_size", policy.tmpfs_size, "max_tmpfs", rule.max_tmpfs),
             ("shm_size", policy.shm_size, "max_shm", rule.max_shm),
             ("max_file_size", policy.max_file_size, "max_file_size", rule.max_file_size)]
    numbers = [("cpus", policy.cpus, "max_cpus", rule.max_cpus),
               ("pids_limit", policy.pids_limit, "max_pids", rule.max_pids),
               ("nofile", policy.nofile, "max_nofile", rule.max_nofile),
               ("timeout_s", policy.timeout_s, "max_timeout_s", rule.max_timeout_s),
               ("output_limit_bytes", policy.output_limit_bytes, "max_output_bytes", rule.max_output_bytes),
               ("read_only_mounts (count)", len(policy.read_only_mounts), "max_read_only_mounts",
                rule.max_read_only_mounts),
               ("env (count)", len(policy.env), "max_env_vars", rule.max_env_vars),
               ("env (bytes)", sum(len(k.encode()) + len(v.encode()) for k, v in policy.env.items()),
                "max_env_bytes", rule.max_env_bytes)]
    reasons = [f"{name} {asked} is over your limit of {cap} ({key} in the host policy)"
               for name, asked, key, cap in sizes if parse_size(asked) > parse_size(cap)]
    reasons += [f"{name} {_shown(asked)} is over your limit of {_shown(cap)} ({key} in the host policy)"
                for name, asked, key, cap in numbers if asked > cap]
    return reasons


def _target_reasons(policy: SandboxPolicy, supplied: Collection[str]) -> list[str]:
    """Mount targets that would hide or reach into what the broker mounts itself.

    Paths are canonical (the policy model normalised them), so ``/opt/avo/harness/`` and
    ``//opt/avo/./harness`` are the harness. A read-only mount *at* a supplied path is
    replaced by the broker's copy; one strictly above or below any broker target is refused,
    as is a workspace on, above or below one, and two mounts on one target.
    """
    reasons = []
    fixed = [*supplied, *BROKER_TARGETS]
    for path in fixed:
        if policy.workdir == path or nested(policy.workdir, path) or nested(path, policy.workdir):
            reasons.append(f"workdir {policy.workdir}: the broker mounts {path} itself; pick a workdir "
                           f"apart from it (e.g. /workspace)")
    targets = [mount.container for mount in policy.read_only_mounts]
    for target in targets:
        overlapped = [path for path in [*fixed, policy.workdir] if nested(target, path) or nested(path, target)]
        overlapped += [path for path in [*BROKER_TARGETS, policy.workdir] if target == path]
        if overlapped:
            reasons.append(f"read-only mount at {target}: it would overlap {', '.join(overlapped)}, which the "
                           f"broker mounts itself; mount it elsewhere")
    repeated = sorted(target for target, times in Counter(targets).items() if times > 1)
    if repeated:
        reasons.append(f"read-only mounts: two share the container path {', '.join(repeated)}")
    return reasons


def admit(rule: TenantRule | None, requested: dict[str, Any], peer: Peer,
          supplied: Collection[str] = (HARNESS_TARGET, LIBRARY_TARGET)) -> SandboxPolicy:
    """The policy the broker will run the session under, or PolicyError naming every refusal.

    ``supplied``: the container paths the broker fills with its own root-owned copies.
    """
    if rule is None:
        raise PolicyError(f"user {peer.user} has no entry in the host policy (/etc/avo/sandboxd.yaml) "
                          f"and the broker denies by default: ask the host admin to add you or your group")
    policy = _validated(requested)
    reasons = []
    if peer.uid == 0:
        reasons.append("root is never a tenant: run avo as your own user")
    if policy.user not in (None, peer.user_spec):
        reasons.append(f"user {policy.user!r}: the broker runs your containers as you ({peer.user_spec}); "
                       f"unset sandbox.user")
    if policy.image not in rule.images:
        reasons.append(f"image {policy.image} is not allowed for you (allowed: {', '.join(rule.images) or 'none'})")
    runtime = policy.runtime or "runc"
    if runtime not in rule.runtimes:
        reasons.append(f"runtime {runtime} is not allowed for you (allowed: {', '.join(rule.runtimes)})")
    if policy.network not in rule.networks:
        reasons.append(f"network {policy.network} is not allowed for you (allowed: {', '.join(rule.networks)})")
    reasons += _limit_reasons(policy, rule)
    reasons += _target_reasons(policy, supplied)
    if policy.packages or policy.requirements:
        reasons.append("packages/requirements: the broker builds no images; ask the host admin for an image with "
                       "the packages and name it in sandbox.image")
    if policy.env_allowlist:
        reasons.append("env_allowlist: the client resolves it into env before asking; the broker's own "
                       "environment is never passed on")
    if reasons:
        raise PolicyError(f"refused for {rule.subject}: " + "; ".join(reasons))
    return policy.model_copy(update={
        "backend": "docker", "user": peer.user_spec, "tenant": peer.user,
        "pool_size": min(policy.pool_size, rule.max_pool),
    })
