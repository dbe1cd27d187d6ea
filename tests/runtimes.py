"""The container runtimes the security and basic exec tests run under (SECURITY.md item 13)."""

from __future__ import annotations

import os
from typing import NoReturn

import docker
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
RUNTIMES = ["runc", "runsc"]


def unavailable(message: str) -> NoReturn:
    """Skip a test whose real part (a daemon, a runtime, a cluster, a browser) this machine
    lacks; with CI=true fail instead, since ``.ci/run`` sets each one up and a skip there
    would pass a broken set-up."""
    if IN_CI:
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def registered_runtime(name: str, client: docker.DockerClient) -> str | None:
    """``name`` as ``SandboxPolicy.runtime`` (None for runc, the engine default).

    runsc skips where dockerd has not registered it, except with CI=true, where
    scripts/setup.sh registers it and its absence is a failure: the same attacks must
    fail under both runtimes.
    """
    if name == "runc":
        return None
    if name not in client.info().get("Runtimes", {}):
        unavailable(f"runtime {name} is not registered with dockerd (scripts/setup.sh registers it)")
    return name
