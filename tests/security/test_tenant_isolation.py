"""Another tenant on the same host: its service and its files stay out of reach.

The neighbour is a real container started with testcontainers (a service listening
on the default bridge network, the way a co-located tenant's job or an unprotected
inference server would). From the host it answers; from a sandboxed call it must
not, and the neighbour's workspace must not be visible either.
"""

from __future__ import annotations

import json
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from testcontainers.core.container import DockerContainer

from sandbox import SandboxPolicy, exec_once

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

PORT = 8000


@pytest.fixture
def neighbour(sandbox_image: str, tmp_path: Path, docker_available):  # type: ignore[no-untyped-def]
    """A tenant's HTTP service serving a secret from its own workspace; yields (ip, secret path)."""
    secret_dir = tmp_path / "tenant-b"
    secret_dir.mkdir()
    secret_dir.chmod(0o755)
    secret = secret_dir / "secret.txt"
    secret.write_text("tenant-b weights\n")
    secret.chmod(0o644)
    container = (DockerContainer(sandbox_image)
                 .with_command(f"python3 -m http.server {PORT} --bind 0.0.0.0 --directory /srv")
                 .with_volume_mapping(str(secret_dir), "/srv", "ro")
                 .with_kwargs(labels={"avo.test": "neighbour"}))
    container.start()
    try:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        address = wrapped.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        yield address, secret
    finally:
        container.stop()


def _wait_until_served(url: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_neighbour_service_and_files_are_out_of_reach(neighbour, sandbox_image: str, sandbox_runtime: str | None,
                                                      workspace: Path) -> None:
    address, secret = neighbour
    url = f"http://{address}:{PORT}/secret.txt"
    # From the host the neighbour answers: the same request from a careless runner would succeed.
    assert _wait_until_served(url) == "tenant-b weights\n"

    probe = textwrap.dedent(f"""
        import json, os, urllib.request
        outcome = {{}}
        try:
            outcome["http"] = urllib.request.urlopen({url!r}, timeout=3).read().decode()
        except OSError as exc:
            outcome["http"] = type(exc).__name__
        outcome["file"] = os.path.exists({str(secret)!r})
        print(json.dumps(outcome))
    """)
    policy = SandboxPolicy(image=sandbox_image, runtime=sandbox_runtime, memory="128m", cpus=1, timeout_s=30,
                           tenant="tenant-a")
    result = exec_once(["python3", "-c", probe], policy, workspace)

    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["http"] != "tenant-b weights\n", outcome
    assert outcome["file"] is False, outcome
