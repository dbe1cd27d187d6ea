"""What the host must provide before a call may see a GPU.

Engine-independent half of GPU support: which devices a selection names, whether
the NVIDIA Container Toolkit is installed, and whether its version carries the
container-escape fixes. The Docker device request itself is built in
``backends.docker.options`` (the docker backend alone speaks Docker).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable

from .errors import GpuUnavailable
from .policy import GpuSelection

log = logging.getLogger("avo.sandbox")

#: CVE-2024-0132, CVE-2025-23359 and CVE-2025-23266 (container escapes) are fixed from here.
MIN_TOOLKIT_VERSION = (1, 17, 8)

INSTALL_FIX = (
    "install the NVIDIA Container Toolkit (>= 1.17.8), run "
    "`nvidia-ctk runtime configure --runtime=docker` and restart dockerd; "
    "or set sandbox.gpus: none"
)

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_TOOLKIT_CLIS = (("nvidia-container-cli", "--version"), ("nvidia-ctk", "--version"))


def visible_devices(gpus: GpuSelection) -> str:
    """The ``NVIDIA_VISIBLE_DEVICES`` value the sandbox itself sets.

    It always matches the device request (Docker numbers a ``count`` request
    0..n-1), and is ``void`` when no GPU is asked for, so an image's own
    ``NVIDIA_VISIBLE_DEVICES=all`` can never expose every device.
    """
    if gpus.mode == "devices":
        return ",".join(gpus.device_ids)
    if gpus.mode == "count":
        return ",".join(str(i) for i in range(gpus.count or 0))
    if gpus.mode == "all":
        return "all"
    return "void"


def toolkit_present(engine_runtimes: Iterable[str]) -> bool:
    """True when the engine can honour an NVIDIA device request."""
    return "nvidia" in engine_runtimes or shutil.which("nvidia-container-runtime-hook") is not None


def toolkit_version() -> tuple[int, int, int] | None:
    """The installed toolkit's version, from its command-line tools; None if unknown."""
    for tool, flag in _TOOLKIT_CLIS:
        if shutil.which(tool) is None:
            continue
        try:
            out = subprocess.run([tool, flag], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        version = parse_toolkit_version(out)
        if version is not None:
            return version
    return None


def parse_toolkit_version(text: str) -> tuple[int, int, int] | None:
    """The first ``X.Y.Z`` of ``nvidia-container-cli --version`` or ``nvidia-ctk --version``."""
    match = _VERSION.search(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def require_gpu_host(gpus: GpuSelection, engine_runtimes: Iterable[str]) -> None:
    """Raise GpuUnavailable when GPUs are asked for but the toolkit is absent;
    warn loudly when its version predates the container-escape fixes."""
    if not gpus.requested:
        return
    if not toolkit_present(engine_runtimes):
        raise GpuUnavailable(f"the policy asks for GPUs ({gpus.mode}) but this Docker host "
                             f"has no NVIDIA runtime: {INSTALL_FIX}")
    version = toolkit_version()
    if version is not None and version < MIN_TOOLKIT_VERSION:
        log.warning("NVIDIA Container Toolkit %s is older than 1.17.8 and has known container "
                    "escapes (CVE-2024-0132, CVE-2025-23359, CVE-2025-23266): upgrade it",
                    ".".join(map(str, version)))
