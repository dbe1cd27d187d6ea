"""What a tenant asked for, checked against its entry of the host policy, and what it gets.

Pure (no engine, no filesystem): the requested policy is validated by the sandbox's own
model (so an option that does not exist, such as ``privileged`` or ``cap_add``, is
refused by name), every limit is compared with the tenant's, and what no caller may
choose is forced: its own uid:gid (never 0), its tenant label, the docker backend.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import PolicyError
from ..policy import SandboxPolicy, parse_size
from .host_policy import TenantRule
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


def admit(rule: TenantRule | None, requested: dict[str, Any], peer: Peer) -> SandboxPolicy:
    """The policy the broker will run the session under, or PolicyError naming every refusal."""
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
    if policy.cpus > rule.max_cpus:
        reasons.append(f"cpus {policy.cpus:g} is over your limit of {rule.max_cpus:g}")
    if policy.memory_bytes > rule.max_memory_bytes:
        reasons.append(f"memory {policy.memory} is over your limit of {rule.max_memory}")
    if parse_size(policy.tmpfs_size) > parse_size(rule.max_tmpfs):
        reasons.append(f"tmpfs_size {policy.tmpfs_size} is over your limit of {rule.max_tmpfs}")
    if parse_size(policy.shm_size) > parse_size(rule.max_shm):
        reasons.append(f"shm_size {policy.shm_size} is over your limit of {rule.max_shm}")
    if policy.pids_limit > rule.max_pids:
        reasons.append(f"pids_limit {policy.pids_limit} is over your limit of {rule.max_pids}")
    if policy.timeout_s > rule.max_timeout_s:
        reasons.append(f"timeout_s {policy.timeout_s:g} is over your limit of {rule.max_timeout_s:g}")
    if policy.output_limit_bytes > rule.max_output_bytes:
        reasons.append(f"output_limit_bytes {policy.output_limit_bytes} is over your limit of {rule.max_output_bytes}")
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
