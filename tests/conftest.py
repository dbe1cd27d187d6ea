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

# testcontainers' reaper needs a pulled image and the socket: sweep by label instead.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

SANDBOX_IMAGE = "avo-sandbox:cpu"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: Container runtimes the security and basic exec tests run under (SECURITY.md item 13).
RUNTIMES = ["runc", "runsc"]


@pytest.fixture(scope="session")
def docker_available() -> Iterator[docker.DockerClient]:
    """A client of the real daemon; skip without one, except in CI where that fails."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        if IN_CI:
            pytest.fail(f"CI=true but no Docker daemon answers: {exc}")
        pytest.skip(f"no Docker daemon: {exc}")
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
    """The ``SandboxPolicy.runtime`` under test: None (the engine default, runc) or gVisor.

    runsc skips where dockerd has not registered it, except with CI=true, where
    scripts/setup.sh registers it and its absence is a failure: the same attacks must
    fail under both runtimes.
    """
    if request.param == "runc":
        return None
    if request.param not in docker_available.info().get("Runtimes", {}):
        message = f"runtime {request.param} is not registered with dockerd (scripts/setup.sh registers it)"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return str(request.param)


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
