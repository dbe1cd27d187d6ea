"""`avo doctor` with sandbox.backend: slurm checks Slurm from the login node, not a local dockerd."""

from __future__ import annotations

import pytest

from sandbox import SandboxPolicy
from sandbox.doctor import diagnose

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(60)]


@pytest.mark.parametrize("partition, ok", [("gpu", True), ("no-such-partition", False)])
def test_doctor_checks_the_controller_and_the_partition(slurm_cluster: str, partition: str, ok: bool) -> None:
    checks = {c.name: c for c in diagnose(SandboxPolicy(backend="slurm", slurm={"partition": partition}))}
    assert checks["slurm controller"].ok and "Slurm" in checks["slurm controller"].detail
    assert checks["slurm partition"].ok is ok
    assert "docker daemon" not in checks
