"""Images as the problem-image builder needs them: an image's id, and an offline build.

Builds use the engine's classic builder with ``network_mode="none"``: every package
comes from the build context, never from a registry. A failed build tags nothing
(the engine tags only on success) and leaves no intermediate container (``forcerm``).
"""

from __future__ import annotations

from pathlib import Path

import docker
import docker.errors

from ...errors import ImageBuildFailed
from .engine import engine_errors

__all__ = ["build_image", "image_id", "remove_stage_images"]


def image_id(client: docker.DockerClient, name: str) -> str | None:
    """The image's id (``sha256:...``), or None when it is not present locally."""
    with engine_errors(name):
        try:
            return str(client.api.inspect_image(name)["Id"])
        except docker.errors.ImageNotFound:
            return None


def _first_error(build_log: object, reason: str) -> str:
    """pip's (or the builder's) first ``ERROR:`` line, else the engine's reason."""
    for entry in build_log or []:
        if not isinstance(entry, dict):
            continue
        for line in str(entry.get("stream") or entry.get("error") or "").splitlines():
            if line.strip().startswith("ERROR:"):
                return line.strip().removeprefix("ERROR:").strip()
    return reason.strip().splitlines()[-1] if reason.strip() else "the build failed"


def build_image(client: docker.DockerClient, context: Path, tag: str, *, build_args: dict[str, str],
                labels: dict[str, str]) -> None:
    """Build ``context`` into ``tag`` without network; ImageBuildFailed carries the first error line."""
    with engine_errors():
        try:
            client.images.build(path=str(context), tag=tag, buildargs=build_args, labels=labels, rm=True,
                                forcerm=True, pull=False, network_mode="none")
        except docker.errors.BuildError as exc:
            raise ImageBuildFailed(_first_error(exc.build_log, str(exc.msg))) from None


def remove_stage_images(client: docker.DockerClient, build_id: str) -> None:
    """Remove the untagged images one build's install stage left (it holds the wheels), whether the
    build succeeded or not; the Dockerfile labels them with the build's id."""
    with engine_errors():
        client.images.prune(filters={"dangling": True, "label": f"avo.problem-image-build={build_id}"})
