"""The container runtimes the security and basic exec tests run under (SECURITY.md item 13)."""

from __future__ import annotations

import os

import docker
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
RUNTIMES = ["runc", "runsc"]


def registered_runtime(name: str, client: docker.DockerClient) -> str | None:
    """``name`` as ``SandboxPolicy.runtime`` (None for runc, the engine default).

    runsc skips where dockerd has not registered it, except with CI=true, where
    scripts/setup.sh registers it and its absence is a failure: the same attacks must
    fail under both runtimes.
    """
    if name == "runc":
        return None
    if name not in client.info().get("Runtimes", {}):
        message = f"runtime {name} is not registered with dockerd (scripts/setup.sh registers it)"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return name
