"""The docker backend: disposable hardened containers through the local Docker engine.

The only package of ``sandbox`` that imports ``docker``. One job per module:
``engine`` (connection, error translation), ``options`` (policy -> container
options), ``wire`` (the call protocol with the container's first process),
``lifecycle`` (one call from start to removal) and ``sweep`` (removal by label).
"""

from .engine import GVISOR_FIX, build_hint, connect, engine_errors, engine_runtimes, image_fix, image_present, require_image
from .lifecycle import DockerBackend, give_workspace_to
from .options import SANDBOX_UID, Placement, container_options, device_request, sandbox_user
from .sweep import remove_labelled

__all__ = [
    "DockerBackend",
    "GVISOR_FIX",
    "Placement",
    "SANDBOX_UID",
    "build_hint",
    "connect",
    "container_options",
    "device_request",
    "engine_errors",
    "engine_runtimes",
    "give_workspace_to",
    "image_fix",
    "image_present",
    "remove_labelled",
    "require_image",
    "sandbox_user",
]
