"""Checks of what the sandbox needs from the host, each with the command that fixes it.

Used by ``avo doctor``; never raises for a missing piece (that is what it reports).
"""

from __future__ import annotations

from .backends.docker import GVISOR_FIX, build_hint, connect, engine_runtimes, image_present
from .doctor_check import DoctorCheck
from .errors import ImageMissing, SandboxError
from .gpu import INSTALL_FIX, MIN_TOOLKIT_VERSION, toolkit_present, toolkit_version
from .gpu_diagnosis import gpu_checks
from .policy import SandboxPolicy
from .problem_image import BUILD_FIX, ProblemImage

__all__ = ["DoctorCheck", "diagnose"]


def diagnose(policy: SandboxPolicy) -> list[DoctorCheck]:
    """Daemon, image, GPU runtime, gVisor and toolkit version, for this policy; on a GPU host
    also the driver, the GPUs' compute mode and a GPU seen from inside a sandbox container."""
    if policy.backend == "slurm":
        from .backends.slurm.doctor import slurm_checks

        return [DoctorCheck(name=name, ok=ok, detail=detail, fix=fix) for name, ok, detail, fix in slurm_checks(policy)]
    if policy.backend == "local":
        return [DoctorCheck(name="backend", ok=True,
                            detail="local backend: commands run on the host WITHOUT isolation",
                            fix="set sandbox.backend: docker for isolation")]
    if policy.backend == "broker":
        return _broker(policy)
    try:
        client = connect()
        try:
            runtimes = engine_runtimes(client)
            has_image = image_present(client, policy.image)
        finally:
            client.close()
    except SandboxError as exc:
        return [DoctorCheck(name="docker daemon", ok=False, detail=str(exc),
                            fix="start dockerd (see .ci/run), then rerun `avo doctor`")]
    return [
        DoctorCheck(name="docker daemon", ok=True, detail=f"reachable; runtimes: {', '.join(runtimes)}"),
        DoctorCheck(name="image", ok=has_image, detail=f"{policy.image} {'present' if has_image else 'missing'}",
                    fix="" if has_image else build_hint(policy.image)),
        *([_problem_image(policy)] if has_image and (policy.packages or policy.requirements) else []),
        _gpu_runtime(policy, runtimes),
        DoctorCheck(name="gvisor (runsc)", ok="runsc" in runtimes or policy.runtime != "runsc",
                    detail="registered" if "runsc" in runtimes else "not registered (optional, stronger isolation)",
                    fix="" if "runsc" in runtimes else GVISOR_FIX),
        _toolkit_version(policy),
        *gpu_checks(policy, toolkit_present(runtimes), has_image),
    ]


def _problem_image(policy: SandboxPolicy) -> DoctorCheck:
    """Whether the image with the problem's packages (sandbox.packages/requirements) is built."""
    try:
        image = ProblemImage(policy).resolve(build=False).image
    except ImageMissing as exc:
        return DoctorCheck(name="problem image", ok=False, detail=str(exc).split(":")[0], fix=BUILD_FIX)
    except SandboxError as exc:
        return DoctorCheck(name="problem image", ok=False, detail=str(exc), fix="fix sandbox.packages/requirements")
    return DoctorCheck(name="problem image", ok=True, detail=f"{image} present (sandbox.packages)")


def _gpu_runtime(policy: SandboxPolicy, runtimes: list[str]) -> DoctorCheck:
    present = toolkit_present(runtimes)
    wanted = policy.gpus.requested
    return DoctorCheck(name="gpu runtime", ok=present or not wanted,
                       detail=(f"NVIDIA runtime {'present' if present else 'absent'}; the policy "
                               f"{'asks for' if wanted else 'does not ask for'} GPUs"),
                       fix="" if present or not wanted else INSTALL_FIX)


def _toolkit_version(policy: SandboxPolicy) -> DoctorCheck:
    version = toolkit_version()
    if version is None:
        return DoctorCheck(name="nvidia toolkit version", ok=not policy.gpus.requested,
                           detail="not installed or version unknown",
                           fix="" if not policy.gpus.requested else "check `nvidia-ctk --version` (need >= 1.17.8)")
    current = version >= MIN_TOOLKIT_VERSION
    return DoctorCheck(name="nvidia toolkit version", ok=current,
                       detail=f"{'.'.join(map(str, version))} (container-escape fixes need >= 1.17.8)",
                       fix="" if current else "upgrade nvidia-container-toolkit to >= 1.17.8")


def _broker(policy: SandboxPolicy) -> list[DoctorCheck]:
    """Through the host's broker: reachable, an entry for the caller, the policy's image and
    runtime and network allowed (the broker alone talks to Docker)."""
    from .backends.broker import broker_request

    try:
        status = broker_request(policy.broker_socket, {"kind": "status"})["status"]
    except SandboxError as exc:
        return [DoctorCheck(name="sandbox broker", ok=False, detail=str(exc),
                            fix="ask the host admin to start avo-sandboxd "
                                "(docs/multi-tenant.md, 'Set-up on a fresh machine (as root)')")]
    you = status["you"]
    entry = you["entry"]
    checks = [DoctorCheck(name="sandbox broker", ok=True, detail=f"{status['broker']} answers at {policy.broker_socket}"),
              DoctorCheck(name="tenant entry", ok=entry is not None,
                          detail=f"{you['user']}: {entry or 'no entry in the host policy (denied)'}",
                          fix="" if entry else "ask the host admin to add you or your group to /etc/avo/sandboxd.yaml")]
    if entry is None:
        return checks
    present = you["images"].get(policy.image)
    runtime = policy.runtime or "runc"
    checks += [
        DoctorCheck(name="image", ok=bool(present),
                    detail=f"{policy.image}: " + ("allowed and present" if present else
                                                  "not allowed for you" if present is None else "allowed, missing"),
                    fix="" if present else f"use one of {', '.join(you['images']) or 'none'}, or ask the host admin"),
        DoctorCheck(name="runtime", ok=runtime in you["runtimes"], detail=f"{runtime} (allowed: {', '.join(you['runtimes'])})",
                    fix="" if runtime in you["runtimes"] else "set sandbox.runtime to an allowed one"),
        DoctorCheck(name="network", ok=policy.network in you["networks"],
                    detail=f"{policy.network} (allowed: {', '.join(you['networks'])})",
                    fix="" if policy.network in you["networks"] else "set sandbox.network: none"),
        DoctorCheck(name="workspace roots", ok=bool(you["roots"]), detail=", ".join(you["roots"]) or "none",
                    fix="" if you["roots"] else "ask the host admin for workspace_roots"),
    ]
    return checks
