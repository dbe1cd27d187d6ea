"""Fixtures shared by every test folder (sub-folders may add their own conftest.py).

Docker-backed tests use the real daemon and the real image. On a developer
machine without a daemon they skip; with CI=true a missing daemon or image fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from runtimes import RUNTIMES, registered_runtime, unavailable

# testcontainers' reaper needs a pulled image and the socket: sweep by label instead.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

SANDBOX_IMAGE = "avo-sandbox:cpu"


@pytest.fixture(scope="session")
def docker_available() -> Iterator[docker.DockerClient]:
    """A client of the real daemon; skip without one, except in CI where that fails."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        unavailable(f"no Docker daemon answers: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_image(docker_available: docker.DockerClient) -> str:
    """The CPU sandbox image tag, which must already be built (never pulled)."""
    try:
        docker_available.images.get(SANDBOX_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{SANDBOX_IMAGE} is missing: run `make image`")
    return SANDBOX_IMAGE


@pytest.fixture(scope="session", params=RUNTIMES)
def sandbox_runtime(request: pytest.FixtureRequest, docker_available: docker.DockerClient) -> str | None:
    """The ``SandboxPolicy.runtime`` under test: None (the engine default, runc) or gVisor."""
    return registered_runtime(str(request.param), docker_available)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty host directory to mount at /workspace."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def labelled_containers(docker_available: docker.DockerClient):
    """Counts avo's containers (all, or one run's), including exited ones."""
    def count(run_id: str | None = None) -> int:
        labels = ["avo.owner=avo"] + ([f"avo.run={run_id}"] if run_id else [])
        # One listing call: the model layer inspects each container after listing, which fails
        # when one is removed in between (a sweep, a call's own clean-up).
        return len(docker_available.api.containers(all=True, filters={"label": labels}))
    return count
