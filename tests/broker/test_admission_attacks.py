"""Admission under attack (issue 17, holes 1, 2, 7 and 9): what a tenant asks is bounded.

Every request comes from a process of the tenant ``avo-t1`` speaking to a real broker
of this module's own, started under ``umask 000`` (so a folder the broker makes with
the process umask would be world-readable). Its tenants may use two workspace roots:
one on a nosuid filesystem of its own (the admin step docs/multi-tenant.md asks for) and one on the
host's root filesystem, which is mounted suid.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenant_hosts import (TEST_SRV, TestBroker, containers_labelled, rule, run_tenant, start_tenant, tenant_dir,
                          uid_of)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

IMAGE = "avo-sandbox:cpu"
GPU = {"index": 0, "uuid": "GPU-0c0c0c0c-test-0000", "cpus": "0"}


@pytest.fixture(scope="module")
def suid_root() -> Iterator[Path]:
    """A workspace root on the host's root filesystem (mounted suid, as most are)."""
    root = TEST_SRV / f"t{os.getpid()}-suid"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def broker(code: Path, suid_root: Path) -> Iterator[TestBroker]:
    name = f"t{os.getpid()}-admission"
    roots = [f"{TEST_SRV}/{name}/{{user}}", f"{suid_root}/{{user}}"]
    started = TestBroker(name=name, fake_gpu_host=True, gpu_group="avo-gpu", gpus=[GPU], tenants=[
        rule(workspace_roots=roots, gpus=[0], max_gpus=1, max_memory="1g")])
    old = os.umask(0)
    try:
        started.start()
    finally:
        os.umask(old)
    try:
        yield started
    finally:
        started.remove()


def _open(workspace: Path | str, run_id: str, **policy: object) -> dict:
    return {"kind": "open", "workspace": str(workspace), "run_id": run_id, "purpose": "shell",
            "policy": {"image": IMAGE, "memory": "256m", **policy}}


def _replies(broker: TestBroker, code: Path, messages: list[dict]) -> list[dict]:
    return run_tenant("avo-t1", code, {"mode": "raw", "socket": broker.socket, "messages": messages})[-1]["replies"]


def _refusals(broker: TestBroker, run_id: str) -> list[dict]:
    return [line for line in broker.audit() if line["event"] == "refused" and line["tenant"] == "avo-t1"
            and run_id in str(line)]


# Hole 1: a size of 0, or one that truncates to 0, would mean "no limit" to Docker -----------

NO_LIMIT_SIZES = ["0", "0.9", "0.5b", "0.0001", "-1g", "nan", "inf", "1e9", 0, -1, "99999999999t"]
UNDER_FLOOR = [("memory", "15m"), ("tmpfs_size", "1023k"), ("shm_size", "0.5m"), ("max_file_size", "4k")]


def test_sizes_that_would_lift_the_limit_are_refused(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    asked = [(field, size) for field in ("memory", "tmpfs_size", "shm_size", "max_file_size")
             for size in NO_LIMIT_SIZES] + UNDER_FLOOR
    replies = _replies(broker, code, [_open(workspace, "zero-size", **{field: size}) for field, size in asked])
    assert len(replies) == len(asked)
    for (field, size), reply in zip(asked, replies):
        assert reply is not None and reply["ok"] is False, (field, size, reply)
        assert reply["message"].startswith("refused") and f"{field}:" in reply["message"], (field, size, reply)
    assert not containers_labelled("avo.run=zero-size")
    # Every refusal is audited; identical ones from one uid are merged into one line (with a count).
    audited = {line["reason"][:200] for line in _refusals(broker, "")}
    assert {reply["message"][:200] for reply in replies} <= audited


def test_the_containers_cgroup_and_tmpfs_hold_the_smallest_limits(broker: TestBroker, code: Path) -> None:
    script = ("cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; df -k /tmp /dev/shm | awk 'NR>1{print $2}'; ulimit -n; "
              "head -c 2097152 /dev/zero > /tmp/big; echo wrote=$?")
    events = run_tenant("avo-t1", code, {
        "socket": broker.socket, "workspace": str(broker.workspace("avo-t1")), "run_id": "floors", "calls": [script],
        "policy": {"memory": "16m", "tmpfs_size": "1m", "shm_size": "1m", "max_file_size": "1m", "nofile": 64}})
    assert [e["event"] for e in events] == ["open", "result", "closed"], events
    memory, tmp_kib, shm_kib, nofile, *rest = events[1]["stdout"].split()
    assert (int(memory), int(tmp_kib), int(shm_kib), int(nofile)) == (16 * 2**20, 1024, 1024, 64), events[1]
    assert rest[-1] != "wrote=0", events[1]  # 2 MiB do not fit a 1 MiB /tmp (nor a 1 MiB file size)


# Hole 7: every list and number has a cap; container paths are compared canonically ----------

def test_numbers_and_lists_over_the_host_caps_are_refused(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    data = tenant_dir(workspace / "data", "avo-t1")
    mounts = [{"host": str(data), "container": f"/data/{index}"} for index in range(17)]
    asked = {
        "nofile 10^9": ({"nofile": 10**9}, "nofile: Input should be less than or equal to 1048576"),
        "nofile over cap": ({"nofile": 5000}, "nofile 5000 is over your limit of 4096 (max_nofile"),
        "1 TB file": ({"max_file_size": "1t"}, "max_file_size 1t is over your limit of 2g"),
        "17 mounts": ({"read_only_mounts": mounts}, "read_only_mounts (count) 17 is over your limit of 16"),
        "1025 mounts": ({"read_only_mounts": [{"host": "/d", "container": "/d"}] * 1025},
                        "read_only_mounts: List should have at most 1024"),
        "65 env vars": ({"env": {f"V{index}": "x" for index in range(65)}}, "env (count) 65 is over your limit of 64"),
        "env bytes": ({"env": {"BIG": "x" * 66000}}, "env (bytes) 66003 is over your limit of 65536"),
        "pids": ({"pids_limit": 10**6}, "pids_limit 1000000 is over your limit of 512"),
        "cpus": ({"cpus": 0.001}, "cpus: Input should be greater than or equal to 0.01"),
        "timeout": ({"timeout_s": "Infinity"}, "timeout_s: Input should be a finite number"),
        "output": ({"output_limit_bytes": 10**12}, "output_limit_bytes 1000000000000 is over your limit of 10000000"),
        "gpu list": ({"gpus": ["0"] * 100}, "gpus.device_ids: List should have at most 64"),
    }
    replies = _replies(broker, code, [_open(workspace, "caps", **policy) for policy, _ in asked.values()])
    for (name, (_, reason)), reply in zip(asked.items(), replies):
        assert reply is not None and reply["ok"] is False and reason in reply["message"], (name, reply)
    assert not containers_labelled("avo.run=caps")


def test_nul_bytes_and_odd_names_are_refused_and_the_connection_lives(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    messages = [_open(f"{workspace}\0x", "nul"),
                _open(workspace, "nul", read_only_mounts=[{"host": f"{workspace}\0x", "container": "/data"}]),
                _open(workspace, "nul", env={"A=LD_PRELOAD": "x"}),
                {"kind": "status"}]
    replies = _replies(broker, code, messages)
    assert [reply and reply["ok"] for reply in replies] == [False, False, False, True], replies
    assert "NUL byte" in replies[0]["message"] and "NUL byte" in replies[1]["message"], replies
    assert "not an environment variable name" in replies[2]["message"], replies


ALIASES = ["/opt/avo/harness/", "//opt/avo/harness", "/opt/avo/./harness", "/opt/avo/harness//."]
OVERLAPS = {
    "under the harness": {"read_only_mounts": [{"host": "DATA", "container": "/opt/avo/harness/call_harness.py"}]},
    "above the harness": {"read_only_mounts": [{"host": "DATA", "container": "//opt/avo/"}]},
    "above everything": {"read_only_mounts": [{"host": "DATA", "container": "/"}]},
    "under the library": {"read_only_mounts": [{"host": "DATA", "container": "/opt/avo/lib/orchestrator/core"}]},
    "under the workspace": {"read_only_mounts": [{"host": "DATA", "container": "/workspace/./x"}]},
    "on /tmp": {"read_only_mounts": [{"host": "DATA", "container": "/tmp/"}]},
    "workspace on the harness": {"workdir": "/opt/avo/harness/."},
    "workspace above /dev/shm": {"workdir": "/dev"},
    "workspace at /": {"workdir": "//"},
    "dot-dot": {"read_only_mounts": [{"host": "DATA", "container": "/x/../opt/avo/harness"}]},
}


def test_mount_targets_overlapping_the_brokers_are_refused(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    data = str(tenant_dir(workspace / "data", "avo-t1"))
    messages = [_open(workspace, "overlap", **{key: [{**m, "host": data} for m in value] if key == "read_only_mounts"
                                                else value for key, value in policy.items()})
                for policy in OVERLAPS.values()]
    replies = _replies(broker, code, messages)
    for name, reply in zip(OVERLAPS, replies):
        assert reply is not None and reply["ok"] is False, (name, reply)
        assert "broker mounts" in reply["message"] or "'..'" in reply["message"], (name, reply["message"])
    assert not containers_labelled("avo.run=overlap")


@pytest.mark.parametrize("alias", ALIASES)
def test_a_mount_on_an_alias_of_the_harness_gets_the_brokers_copy(broker: TestBroker, code: Path, alias: str) -> None:
    workspace = broker.workspace("avo-t1")
    fake = tenant_dir(workspace / "fake-harness", "avo-t1")
    (fake / "call_harness.py").write_text("print('the tenant scores itself')\n")
    events = run_tenant("avo-t1", code, {
        "socket": broker.socket, "workspace": str(workspace), "run_id": "alias",
        "policy": {"memory": "256m", "read_only_mounts": [{"host": str(fake), "container": alias}]},
        "calls": ["head -c 300 /opt/avo/harness/call_harness.py"]})
    assert [e["event"] for e in events] == ["open", "result", "closed"], events
    assert "the tenant scores itself" not in events[1]["stdout"]
    assert events[1]["stdout"] == (REPO_HARNESS / "call_harness.py").read_text()[:300]


REPO_HARNESS = Path(__file__).resolve().parents[2] / "sandbox" / "harness"


# Hole 2: a GPU lease never lets a writable host folder hold a setgid-gpu_group file ----------

def _gpu_session(broker: TestBroker, workspace: Path, run_id: str) -> dict:
    return {"socket": broker.socket, "workspace": str(workspace), "run_id": run_id,
            "policy": {"memory": "256m", "gpus": 1, "broker_wait": False}}


def _suid_workspace(suid_root: Path) -> Path:
    tenant_dir(suid_root / "avo-t1", "avo-t1")
    return tenant_dir(suid_root / "avo-t1" / uuid.uuid4().hex[:8], "avo-t1")


def test_no_gpu_lease_for_a_workspace_on_a_suid_filesystem(broker: TestBroker, code: Path, suid_root: Path) -> None:
    events = run_tenant("avo-t1", code, _gpu_session(broker, _suid_workspace(suid_root), "suid-gpu"))
    assert events[0]["event"] == "error" and "GPU lease refused" in events[0]["message"], events
    assert "mount workspace roots nosuid" in events[0]["message"]
    assert any("GPU lease refused" in line["reason"] for line in _refusals(broker, "GPU lease"))
    assert "avo-t1" not in str(_gpu_holders(broker))


def _gpu_holders(broker: TestBroker) -> list:
    from sandbox.backends.broker import broker_request

    return [gpu["holder"] for gpu in broker_request(broker.socket, {"kind": "status"})["status"]["gpus"]]


def test_a_nosuid_bind_mount_of_a_suid_filesystem_is_not_enough(broker: TestBroker, code: Path,
                                                                 suid_root: Path) -> None:
    # The folder itself is reached through a nosuid mount, but the same file is reachable
    # (and its setgid bit honoured) through the suid root filesystem as well.
    workspace = _suid_workspace(suid_root)
    subprocess.run(["mount", "--bind", str(workspace), str(workspace)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,nosuid", str(workspace)], check=True)
        assert os.statvfs(workspace).f_flag & os.ST_NOSUID
        events = run_tenant("avo-t1", code, _gpu_session(broker, workspace, "bind-gpu"))
    finally:
        subprocess.run(["umount", "-l", str(workspace)], check=True)
    assert events[0]["event"] == "error" and "GPU lease refused" in events[0]["message"], events
    assert "allowed (at /" in events[0]["message"], events  # the root filesystem, suid


def _plant_setgid_copy(workspace: Path) -> str:
    """What a call holding the GPU group could do in its workspace, done in a container with
    that call's user and groups (this host's engine cannot start one with a GPU request):
    copy a program, give it the GPU group, set its setgid bit. Returns the copy's host path."""
    gpu_gid = grp.getgrnam("avo-gpu").gr_gid
    shutil.copy("/usr/bin/id", workspace / "id0")
    os.chown(workspace / "id0", uid_of("avo-t1"), -1)
    user = f"{uid_of('avo-t1')}:{grp.getgrnam('avo-t1').gr_gid}"
    subprocess.run(["docker", "run", "--rm", "--label", f"avo.test=setgid-{os.getpid()}", "--network", "none",
                    "--user", user, "--group-add", str(gpu_gid), "-v", f"{workspace}:/workspace", "-w", "/workspace",
                    IMAGE, "sh", "-c", f"cp id0 t && chgrp {gpu_gid} t && chmod 2755 t"], check=True, timeout=60)
    planted = workspace / "t"
    assert planted.stat().st_gid == gpu_gid and planted.stat().st_mode & stat.S_ISGID
    return str(planted)


def _run_on_host_as_tenant(program: str) -> str:
    return subprocess.run(["setpriv", "--reuid=avo-t1", "--regid=avo-t1", "--init-groups", program],
                          capture_output=True, text=True, check=True, timeout=30).stdout


def test_on_a_nosuid_root_the_lease_works_and_a_setgid_copy_is_useless(broker: TestBroker, code: Path,
                                                                        suid_root: Path) -> None:
    workspace = broker.workspace("avo-t1")
    release = workspace.parent / f"release-{uuid.uuid4().hex[:6]}"
    holder = start_tenant("avo-t1", code, {**_gpu_session(broker, workspace, "nosuid-gpu"), "hold_until": str(release)})
    try:
        assert holder.stdout is not None
        opened = holder.stdout.readline()
        assert '"event": "open"' in opened and GPU["uuid"] in opened, (opened, holder.stderr)
        planted = _plant_setgid_copy(workspace)
        assert "avo-gpu" not in _run_on_host_as_tenant(planted)  # nosuid: the bit does nothing
    finally:
        release.touch()
        holder.communicate(timeout=60)
    # The control: the same attack on the suid root does give the GPU group, which is why no
    # lease is granted there (the two tests above).
    assert "egid=" in _run_on_host_as_tenant(_plant_setgid_copy(_suid_workspace(suid_root)))


# Hole 9: every folder the broker makes has its own mode, whatever the umask -------------------

def test_the_brokers_folders_are_its_own_under_umask_000(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    release = workspace.parent / f"release-{uuid.uuid4().hex[:6]}"
    holder = start_tenant("avo-t1", code, {"socket": broker.socket, "workspace": str(workspace), "run_id": "modes",
                                           "policy": {"memory": "256m"}, "hold_until": str(release)})
    try:
        assert holder.stdout is not None and '"event": "open"' in holder.stdout.readline()
        state = broker.pins.parent
        sessions = list(broker.pins.iterdir())
        assert sessions
        for folder in [state, broker.pins, *sessions]:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        listing = subprocess.run(["setpriv", "--reuid=avo-t2", "--regid=avo-t2", "--init-groups", "ls", broker.pins],
                                 capture_output=True, text=True, timeout=30)
        assert listing.returncode != 0 and "Permission denied" in listing.stderr
    finally:
        release.touch()
        holder.communicate(timeout=60)
