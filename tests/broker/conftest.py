"""Fixtures of the multi-tenant tests: real tenant users, a broker of the module's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenant_hosts import TEST_SRV, TestBroker, require_tenants, rule, tenant_code

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="session")
def code(sandbox_image: str) -> Iterator[Path]:
    """This checkout's packages where the tenants can read them."""
    require_tenants()
    base = Path(tempfile.mkdtemp(prefix="avo-tenant-code-", dir="/var/tmp"))
    base.chmod(0o755)
    yield tenant_code(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def broker(code: Path, request: pytest.FixtureRequest) -> Iterator[TestBroker]:
    """A broker for one test module: both tenants through their group, 2 GPUs declared
    (tenant 1 may lease GPU 0, tenant 2 either), container quota 3."""
    name = f"t{os.getpid()}-{request.module.__name__.rsplit('_', 1)[-1]}"
    roots = [f"{TEST_SRV}/{name}/{{user}}"]
    started = TestBroker(name=name, fake_gpu_host=True, gpus=[
        {"index": 0, "uuid": "GPU-0a0a0a0a-test-0000", "cpus": "0"},
        {"index": 1, "uuid": "GPU-1b1b1b1b-test-1111", "cpus": "1"}], tenants=[
        rule(user="avo-t1", group=None, workspace_roots=roots, gpus=[0], max_gpus=1, max_containers=3),
        rule(workspace_roots=roots, gpus=[0, 1], max_gpus=1, max_containers=3),
    ])
    try:
        yield started.start()
    finally:
        started.remove()
