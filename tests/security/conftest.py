"""The attack suite through a multi-tenant broker: the client is a real tenant (avo-t1).

The test process (root) must not be the broker's client (root is never a tenant), so
its connection is made by a process of ``avo-t1`` and handed over (SCM_RIGHTS): the
broker identifies the tenant by ``SO_PEERCRED`` as it would on a shared host. Each
test's workspace is handed to the tenant, and the broker's workspace root is this
session's pytest folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import sandbox.backends.broker
from sandbox import SandboxPolicy
from tenant_hosts import TestBroker, require_tenants, rule, tenant_connector, uid_of


@pytest.fixture(scope="session")
def attack_broker(sandbox_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBroker]:
    require_tenants()
    root = str(tmp_path_factory.getbasetemp().resolve())
    broker = TestBroker(name=f"t{os.getpid()}-attacks", tenants=[rule(
        user="avo-t1", group=None, images=[sandbox_image], workspace_roots=[root], max_containers=8)])
    try:
        yield broker.start()
    finally:
        broker.remove()


@pytest.fixture
def through_broker(attack_broker: TestBroker, workspace: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Callable[[SandboxPolicy], SandboxPolicy]:
    """Turns an attack's policy into the same policy asked of the broker by avo-t1."""
    os.chown(workspace, uid_of("avo-t1"), -1)
    monkeypatch.setattr(sandbox.backends.broker, "connect_unix", tenant_connector("avo-t1"))
    return lambda policy: policy.model_copy(update={"backend": "broker", "broker_socket": attack_broker.socket})
