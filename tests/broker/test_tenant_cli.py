"""avo's commands as a tenant sees them under ``sandbox.backend: broker``: run, sandbox exec,
doctor, gc and sandboxd status, each run by a real tenant user with no Docker access."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tenant_hosts import REPO, TestBroker, as_tenant, containers_labelled, start_tenant, uid_of

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def _avo(user: str, code: Path, *args: str, cwd: str = "/", timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(as_tenant(user, ["-m", "orchestrator", *args], code), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _wait_running(label: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while not containers_labelled(label):
        assert time.monotonic() < deadline, f"no container labelled {label}"
        time.sleep(0.1)


def test_sandbox_exec_runs_as_the_tenant(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    done = _avo("avo-t1", code, "sandbox", "exec", "--backend", "broker", "--broker-socket", broker.socket,
                "--workspace", str(workspace), "--memory", "256m", "--", "sh", "-c", "id -u; exit 3")
    assert (done.returncode, done.stdout) == (3, f"{uid_of('avo-t1')}\n"), done.stderr
    refused = _avo("avo-t1", code, "sandbox", "exec", "--backend", "broker", "--broker-socket", broker.socket,
                   "--workspace", str(workspace), "--memory", "8g", "--", "true")
    assert refused.returncode == 125 and "memory 8g is over your limit of 1g" in refused.stderr, refused.stderr


def test_gc_sweeps_only_the_callers_own_containers(broker: TestBroker, code: Path) -> None:
    holder = start_tenant("avo-t1", code, {"socket": broker.socket, "workspace": str(broker.workspace("avo-t1")),
                                           "run_id": "gc-victim", "policy": {"memory": "256m"},
                                           "calls": ["sleep 60"]})
    try:
        _wait_running("avo.run=gc-victim")
        other = _avo("avo-t2", code, "gc", "--backend", "broker", "--broker-socket", broker.socket)
        assert other.stdout == "removed 0 sandbox container(s)\n", other.stderr
        assert containers_labelled("avo.run=gc-victim")
        own = _avo("avo-t1", code, "gc", "--run", "gc-victim", "--backend", "broker", "--broker-socket", broker.socket)
        assert own.stdout == "removed 1 sandbox container(s)\n", own.stderr
        assert not containers_labelled("avo.run=gc-victim")
    finally:
        holder.kill()
        holder.wait()


def test_status_and_doctor_through_the_broker(broker: TestBroker, code: Path) -> None:
    status = _avo("avo-t1", code, "sandboxd", "status", "--socket", broker.socket)
    assert status.returncode == 0, status.stderr
    assert "you: avo-t1 (user avo-t1)" in status.stdout and "GPU-0a0a0a0a-test-0000  free" in status.stdout
    folder = broker.workspace("avo-t1")
    config = folder / "avo.yaml"
    for name in ("seed.py", "scorer.py"):
        shutil.copy(REPO / "examples" / "sorting_optimization" / name, folder / name)
    config.write_text(yaml.safe_dump({"seed_file": "seed.py", "scoring_module": "scorer.py", "sandbox": {
        "backend": "broker", "broker_socket": broker.socket, "memory": "512m"}}))
    subprocess.run(["chown", "-R", "avo-t1:", str(folder)], check=True)
    doctor = _avo("avo-t1", code, "doctor", str(config), timeout=60)
    for row in ("sandbox broker", "tenant entry", "image", "runtime", "network", "workspace roots"):
        assert any(row in line and " ok " in line for line in doctor.stdout.splitlines()), (row, doctor.stdout)


def test_avo_run_through_the_broker_commits_versions_as_the_tenant(broker: TestBroker, code: Path) -> None:
    folder = broker.workspace("avo-t1")
    example = REPO / "examples" / "sorting_optimization"
    for name in ("seed.py", "scorer.py", "replay.yaml"):
        shutil.copy(example / name, folder / name)
    (folder / "avo.yaml").write_text(yaml.safe_dump({
        "seed_file": "seed.py", "scoring_module": "scorer.py", "max_versions": 1, "git_persist": True,
        "sandbox": {"backend": "broker", "broker_socket": broker.socket, "memory": "512m", "timeout_s": 120}}))
    subprocess.run(["chown", "-R", "avo-t1:", str(folder)], check=True)
    done = _avo("avo-t1", code, "run", "avo.yaml", "--replay", "replay.yaml", cwd=str(folder))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tags = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(folder / "workspace" / "lineage"), "tag"], capture_output=True,
                          text=True).stdout.split()
    assert {"v0", "v1"} <= set(tags), (tags, done.stdout[-2000:])
    calls = [line for line in broker.audit() if line.get("tenant") == "avo-t1" and line.get("event") == "call"]
    assert calls and all(line["uid"] == uid_of("avo-t1") for line in calls)


def test_the_hosts_broker_from_the_setup_serves_tenants(code: Path) -> None:
    """scripts/setup-broker.sh installed /opt/avo/venv and started avo-sandboxd with /etc/avo/sandboxd.yaml."""
    avo = "/opt/avo/venv/bin/avo"
    as_t1 = ["setpriv", "--reuid=avo-t1", "--regid=avo-t1", "--init-groups", "env", "-i", "HOME=/tmp", avo]
    status = subprocess.run([*as_t1, "sandboxd", "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "you: avo-t1 (group avo-tenants)" in status.stdout, status.stderr
    done = subprocess.run([*as_t1, "sandbox", "exec", "--backend", "broker", "--workspace", "/srv/avo/avo-t1",
                           "--memory", "256m", "--", "id", "-u"], capture_output=True, text=True, timeout=60, cwd="/")
    assert (done.returncode, done.stdout) == (0, f"{uid_of('avo-t1')}\n"), done.stderr
