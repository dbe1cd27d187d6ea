"""A week-long run makes hundreds of thousands of calls: each must give back its Docker socket.

docker-py keeps an attach socket in a reference cycle with its HTTP response, so closing
the attach stream alone frees the fd only when the garbage collector next runs. With the
collector off, any fd a call leaves behind shows up in these counts.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from sandbox import Sandbox, SandboxPolicy
from sandbox.backends.docker.wire import StartedContainer

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_attach_sockets_are_closed_without_a_collection(docker_available: docker.DockerClient,
                                                        sandbox_image: str) -> None:
    """The lowest layer, 300 times: attach to a (created, never started) container, then close."""
    api = docker_available.api
    created = api.create_container(sandbox_image, command=["true"], labels={"avo.test": "fds"})
    try:
        with collector_off():
            api.attach_socket(created["Id"], params={"stdin": 1, "stdout": 1, "stream": 1})  # the pool's first fd
            before = open_fds()
            for _ in range(300):
                stream = api.attach_socket(created["Id"], params={"stdin": 1, "stdout": 1, "stream": 1})
                StartedContainer(created["Id"], stream).close()
            after = open_fds()
    finally:
        api.remove_container(created["Id"], force=True)
    assert after - before <= 2, f"{after - before} fds left open by 300 attaches"


def test_calls_leave_no_fd_behind(sandbox_image: str, workspace: Path) -> None:
    """Whole calls through the docker backend. docker-py keeps a connection pool per URL, and each
    call's URLs name its container: the first few calls fill its 25 pools (closing the oldest
    from then on), after which the count must stay put."""
    policy = SandboxPolicy(image=sandbox_image, memory="256m", cpus=1, timeout_s=30, pool_size=0)
    with Sandbox(policy, workspace, purpose="fds") as sandbox, collector_off():
        for _ in range(8):
            sandbox.exec("true")
        before = open_fds()
        for _ in range(15):
            assert sandbox.exec("echo hi").stdout == "hi\n"
        after = open_fds()
    assert after - before <= 2, f"{after - before} fds left open by 15 calls"
