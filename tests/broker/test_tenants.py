"""Multi-tenant hosts, by attack: real users (avo-t1, avo-t2), a real broker, the real daemon.

Every tenant action runs in a process of that tenant (``setpriv``), so the broker
identifies it by ``SO_PEERCRED`` exactly as on a shared host (SECURITY.md 18-23).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tenant_hosts import (TEST_SRV, TestBroker, containers_labelled, rule, run_tenant, start_tenant, tenant_dir,
                          uid_of)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

IMAGE = "avo-sandbox:cpu"


def _session(broker: TestBroker, workspace: Path, **request) -> dict:  # type: ignore[no-untyped-def]
    return {"socket": broker.socket, "workspace": str(workspace), "policy": {"memory": "256m"}, **request}


def _wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _running(run_id: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=avo.run={run_id}"], capture_output=True, text=True)
    return out.stdout.split()


def _events(process: subprocess.Popen[str]) -> list[dict]:
    import json

    out, err = process.communicate(timeout=60)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events, err
    events[-1]["stderr"] = err
    return events


# 18. No tenant reaches the Docker socket; the broker runs its calls -----------------------

def test_tenant_cannot_open_the_docker_socket(code: Path) -> None:
    outcome = run_tenant("avo-t1", code, {"mode": "docker"})[-1]["outcome"]
    assert outcome["/var/run/docker.sock"] == "PermissionError", outcome
    assert outcome["/run/containerd/containerd.sock"] in ("PermissionError", "FileNotFoundError"), outcome


def test_tenant_runs_a_call_through_the_broker_as_itself_and_it_is_audited(broker: TestBroker, code: Path) -> None:
    workspace = broker.workspace("avo-t1")
    script = "id -u; id -g; echo made > made.txt; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"
    events = run_tenant("avo-t1", code, _session(broker, workspace, run_id="r-basic", calls=[script]))
    assert [e["event"] for e in events] == ["open", "result", "closed"], events
    result = events[1]
    assert result["exit_code"] == 0, result
    uid, gid, *status = result["stdout"].splitlines()
    assert int(uid) == uid_of("avo-t1") and int(gid) != 0
    assert dict(line.split(":\t") for line in status) == {"CapEff": "0000000000000000", "NoNewPrivs": "1",
                                                          "Seccomp": "2"}
    assert (workspace / "made.txt").stat().st_uid == uid_of("avo-t1")
    audit = [line for line in broker.audit() if line.get("run") == "r-basic"]
    assert [line["event"] for line in audit] == ["open", "call", "close"], audit
    assert {line["uid"] for line in audit} == {uid_of("avo-t1")}
    assert audit[0]["workspace"] == str(workspace) and audit[2]["reason"] == "closed by the client"
    line = audit[1]
    assert (line["event"], line["tenant"], line["uid"], line["image"], line["exit"], line["gpus"]) == (
        "call", "avo-t1", uid_of("avo-t1"), IMAGE, 0, [])
    assert line["command_sha256"] == hashlib.sha256(script.encode()).hexdigest()
    assert line["pid"] > 0 and line["duration_s"] > 0 and line["oom_killed"] is False and line["timed_out"] is False
    assert not containers_labelled("avo.run=r-basic")


# 20. Mounts are the caller's own ------------------------------------------------------------

def _outside_own(broker: TestBroker, kind: str, tmp: Path) -> str:
    """A path avo-t1 asks to mount that is not its own, for each way of trying."""
    mine = broker.workspace("avo-t1")
    if kind == "other-tenant":
        return str(broker.workspace("avo-t2"))
    if kind == "not-owned-inside-root":
        planted = mine / "planted"
        planted.mkdir()  # made by root inside the tenant's root: not the tenant's
        return str(planted)
    if kind == "own-folder-outside-roots":
        return str(tenant_dir(tmp / "t1-elsewhere", "avo-t1"))
    if kind == "symlink":
        # The tenant's own folder, but outside its roots, reached through a link inside them.
        elsewhere = tenant_dir(tmp / "t1-elsewhere", "avo-t1")
        (mine / "link").symlink_to(elsewhere)
        os.lchown(mine / "link", uid_of("avo-t1"), -1)
        return str(mine / "link")
    return {"root": "/", "etc": "/etc", "tmp": "/tmp"}[kind]


MOUNT_REFUSALS = {
    "other-tenant": "outside your workspace roots",
    "own-folder-outside-roots": "outside your workspace roots",
    "not-owned-inside-root": "is not yours",
    "symlink": "is a symlink",
    "root": "outside your workspace roots",
    "etc": "outside your workspace roots",
}


@pytest.mark.parametrize("kind", MOUNT_REFUSALS)
def test_workspace_that_is_not_the_tenants_own_is_refused(broker: TestBroker, code: Path, kind: str) -> None:
    base = Path(f"/var/tmp/avo-test-{os.getpid()}-{kind}")
    base.mkdir(mode=0o755, exist_ok=True)
    try:
        path = _outside_own(broker, kind, base)
        replies = run_tenant("avo-t1", code, {"mode": "raw", "socket": broker.socket, "messages": [
            {"kind": "open", "workspace": path, "run_id": "mount", "purpose": "shell",
             "policy": {"image": IMAGE, "memory": "256m"}}]})[-1]["replies"]
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)
    reply = replies[0]
    assert reply["ok"] is False and reply["error"] == "PolicyError", reply
    assert MOUNT_REFUSALS[kind] in reply["message"], reply


def test_read_only_mount_of_the_other_tenants_files_is_refused(broker: TestBroker, code: Path) -> None:
    theirs = broker.workspace("avo-t2")
    events = run_tenant("avo-t1", code, _session(
        broker, broker.workspace("avo-t1"),
        policy={"memory": "256m", "read_only_mounts": [{"host": str(theirs), "container": "/data"}]},
        calls=["ls /data"]))
    assert events[0]["event"] == "error" and "outside your workspace roots" in events[0]["message"], events


def test_symlink_swapped_in_during_the_run_does_not_move_the_mount(broker: TestBroker, code: Path) -> None:
    # Tenant 2's files sit in a world-readable folder inside its private (0700) folder: on the
    # host tenant 1 cannot reach them; a mount of that inner folder would hand them over.
    victim = broker.workspace("avo-t2") / "shared"
    tenant_dir(victim, "avo-t2").chmod(0o755)
    (victim / "secret.txt").write_text("tenant-2 secret\n")
    os.chown(victim / "secret.txt", uid_of("avo-t2"), -1)
    mine = broker.workspace("avo-t1")
    (mine / "mine.txt").write_text("tenant-1 file\n")
    moved = mine.with_name(mine.name + "-old")
    events = run_tenant("avo-t1", code, _session(broker, mine, calls=[
        "cat mine.txt",
        {"host": ["rename", str(mine), str(moved)]},       # between check and use: the path now
        {"host": ["symlink", str(victim), str(mine)]},     # names tenant 2's folder
        "cat mine.txt secret.txt 2>&1; true"]))
    results = [e for e in events if e["event"] == "result"]
    assert [r["stdout"] for r in results[:1]] == ["tenant-1 file\n"], events
    assert "tenant-2 secret" not in results[1]["stdout"] and "tenant-1 file" in results[1]["stdout"], results[1]


# 19. The broker forces what tenants may not choose ---------------------------------------

FORBIDDEN = {
    "uid 0": ({"user": "0:0"}, "runs your containers as you"),
    "privileged": ({"privileged": True}, "privileged: not a sandbox option"),
    "capability": ({"cap_add": ["SYS_ADMIN"]}, "cap_add: not a sandbox option"),
    "host network": ({"network": "host"}, "network"),
    "bridge network": ({"network": "bridge"}, "network bridge is not allowed"),
    "unlisted image": ({"image": "avo-base:bookworm"}, "image avo-base:bookworm is not allowed"),
    "over-quota memory": ({"memory": "2g"}, "memory 2g is over your limit of 1g"),
    "over-quota cpus": ({"cpus": 8}, "cpus 8 is over your limit"),
    "over-quota output": ({"output_limit_bytes": 50_000_000}, "output_limit_bytes 50000000 is over your limit"),
    "over-quota /tmp": ({"tmpfs_size": "64g"}, "tmpfs_size 64g is over your limit of 1g"),
    "over-quota /dev/shm": ({"shm_size": "64g"}, "shm_size 64g is over your limit of 1g"),
    "packages": ({"packages": ["scipy"]}, "the broker builds no images"),
    "runtime not allowed": ({"runtime": "runsc"}, "runtime runsc is not allowed"),
    "loader variable": ({"env": {"LD_PRELOAD": "/workspace/x.so"}}, "LD_PRELOAD may not be set"),
    "broker's environment": ({"env_allowlist": ["PATH"]}, "env_allowlist"),
}


def test_forbidden_requests_are_refused_with_a_reason(broker: TestBroker, code: Path) -> None:
    workspace = str(broker.workspace("avo-t1"))
    messages = [{"kind": "open", "workspace": workspace, "run_id": "forbidden", "purpose": "shell",
                 "policy": {"image": IMAGE, "memory": "256m", **asked}} for asked, _ in FORBIDDEN.values()]
    messages.append({"kind": "open", "workspace": workspace + "/../avo-t2", "run_id": "forbidden",
                     "purpose": "shell", "policy": {"image": IMAGE, "memory": "256m"}})
    replies = run_tenant("avo-t1", code, {"mode": "raw", "socket": broker.socket, "messages": messages})[-1]["replies"]
    expected = [reason for _, reason in FORBIDDEN.values()] + ["must be normalised"]
    for name, reply, reason in zip([*FORBIDDEN, "dot-dot path"], replies, expected):
        assert reply is not None and reply["ok"] is False and reply["error"] == "PolicyError", (name, reply)
        assert reason in reply["message"], (name, reply["message"])
    assert not containers_labelled("avo.run=forbidden")
    refusals = [line for line in broker.audit() if line["event"] == "refused" and line["tenant"] == "avo-t1"]
    assert len(refusals) >= len(messages) and all(line["request"] == "open" for line in refusals)


def test_a_tenant_without_an_entry_is_denied(code: Path) -> None:
    alone = TestBroker(name=f"t{os.getpid()}-deny", tenants=[rule(user="avo-t2", group=None)]).start()
    try:
        workspace = alone.workspace("avo-t1")
        events = run_tenant("avo-t1", code, _session(alone, workspace, calls=["true"]))
    finally:
        alone.remove()
    assert events[0]["event"] == "error" and "denies by default" in events[0]["message"], events


def test_sessions_beyond_the_tenants_limit_are_refused(code: Path) -> None:
    name = f"t{os.getpid()}-sessions"
    small = TestBroker(name=name, tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"], max_sessions=1)])
    small.start()
    try:
        holder = start_tenant("avo-t1", code, _session(small, small.workspace("avo-t1"), hold_s=30))
        assert '"open"' in (holder.stdout.readline() if holder.stdout else "")
        second = run_tenant("avo-t1", code, _session(small, small.workspace("avo-t1")))
        other = run_tenant("avo-t2", code, _session(small, small.workspace("avo-t2")))  # its own limit
        holder.kill()
        holder.wait()
    finally:
        small.remove()
    assert second[0]["event"] == "error" and "your limit is 1" in second[0]["message"], second
    assert other[0]["event"] == "open", other


def test_the_broker_speaks_no_docker_api(broker: TestBroker, code: Path) -> None:
    replies = run_tenant("avo-t1", code, {"mode": "raw", "socket": broker.socket, "messages": [
        {"kind": "containers", "all": True}, {"kind": "run", "command": "true"},
        "GET /containers/json HTTP/1.1\r\nHost: docker\r\n\r\n"]})[-1]["replies"]
    assert "not a broker request" in replies[0]["message"]
    assert "no run session" in replies[1]["message"]
    # An HTTP request reads as a 1.2 GB frame: refused by its size before any byte more is read.
    assert "over the broker's limit" in replies[2]["message"], replies
    refused = [line for line in broker.audit() if line["event"] == "refused" and line["uid"] == uid_of("avo-t1")]
    assert {"containers", "run", "frame"} <= {line["request"] for line in refused}, refused


# Fair share ----------------------------------------------------------------------------------

def test_concurrent_calls_never_exceed_the_tenants_container_limit(code: Path) -> None:
    name = f"t{os.getpid()}-quota"
    small = TestBroker(name=name, tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"], max_containers=1,
                                                max_pool=2)]).start()
    try:
        first_workspace = small.workspace("avo-t1")
        # The first call holds the tenant's only slot until the test lets it end.
        first = start_tenant("avo-t1", code, _session(small, first_workspace, calls=[
            "date +%s.%N; while [ ! -e go ]; do sleep 0.05; done; date +%s.%N"],
            policy={"memory": "256m", "pool_size": 2}))
        _wait_for(lambda: containers_labelled(f"avo.broker={name}"), what="the first call")
        second = start_tenant("avo-t1", code, _session(small, small.workspace("avo-t1"), calls=[
            "date +%s.%N; sleep 0.5; date +%s.%N"], policy={"memory": "256m", "pool_size": 2}))
        _wait_for(lambda: _queued(small, "avo-t1") == 1, what="the second call to queue")
        refused = run_tenant("avo-t1", code, _session(small, small.workspace("avo-t1"), calls=["true"],
                                                      policy={"memory": "256m", "broker_wait": False}))
        assert len(containers_labelled(f"avo.broker={name}")) == 1
        (first_workspace / "go").touch()
        spans = []
        for process in (first, second):
            result = [e for e in _events(process) if e["event"] == "result"][0]
            start, end = map(float, result["stdout"].split())
            spans.append((start, end))
    finally:
        small.remove()
    (a_start, a_end), (b_start, b_end) = spans
    assert b_start >= a_end, f"two containers ran at once under a limit of 1: {spans}"
    assert [e["event"] for e in refused][:2] == ["open", "error"] and "your limit is 1" in refused[1]["message"]


def _queued(broker: TestBroker, tenant: str) -> int:
    from sandbox.backends.broker import broker_request

    tenants = broker_request(broker.socket, {"kind": "status"})["status"]["tenants"]
    return sum(t["queued"] for t in tenants if t["tenant"] == tenant)


# 21. Tenants cannot see each other -----------------------------------------------------------

def test_tenants_cannot_see_stop_or_read_each_others_containers(broker: TestBroker, code: Path) -> None:
    holder = start_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"), run_id="t1-private",
                                                   calls=["echo t1-output; sleep 4; echo t1-done"]))
    try:
        _wait_for(lambda: _running("t1-private"), what="tenant 1's call")
        container = _running("t1-private")[0]
        replies = run_tenant("avo-t2", code, {"mode": "raw", "socket": broker.socket, "messages": [
            {"kind": "status"}, {"kind": "gc"}, {"kind": "gc", "run_id": "t1-private"}]})
        status, everything, theirs = replies[-1]["replies"]
        assert _running("t1-private") == [container]  # still running after tenant 2's gc
        # Tenant 2's own call looks for tenant 1's processes, and its session asks for tenant 1's
        # workspace as the broker pinned it (the path dockerd mounts) and as tenant 1 owns it.
        t1_session = next(line["session"] for line in broker.audit()
                          if line["event"] == "open" and line.get("run") == "t1-private")
        looking = run_tenant("avo-t2", code, _session(broker, broker.workspace("avo-t2"), calls=[
            "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]))
        pinned, owned = (run_tenant("avo-t2", code, _session(broker, broker.workspace("avo-t2"), policy={
            "memory": "256m", "read_only_mounts": [{"host": str(path), "container": "/mnt/theirs"}]}))
            for path in (broker.pins / t1_session / "workspace", broker.roots / "avo-t1"))
    finally:
        events = _events(holder)
    assert status["ok"] and all(c["tenant"] == "avo-t2" for c in status["status"]["containers"]), status
    assert "avo-t1" not in {t["tenant"] for t in status["status"]["tenants"]}
    assert everything == {"ok": True, "removed": 0} and theirs == {"ok": True, "removed": 0}
    result = [e for e in looking if e["event"] == "result"]
    assert result and "sleep 4" not in result[0]["stdout"] and "cat" in result[0]["stdout"], looking
    for refused in (pinned, owned):
        assert refused[0]["event"] == "error" and refused[0]["type"] == "PolicyError", refused
    assert "t1-output" not in str(replies) + str(looking)
    assert [e["stdout"] for e in events if e["event"] == "result"] == ["t1-output\nt1-done\n"]


# 22. GPUs are leased exclusively ---------------------------------------------------------------

def test_two_runs_asking_for_the_same_gpu_never_hold_it_at_once(broker: TestBroker, code: Path) -> None:
    ask = {"memory": "256m", "gpus": "0"}
    release = Path(f"/var/tmp/avo-test-{os.getpid()}-release-gpu")
    first = start_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"), run_id="gpu-first",
                                                  policy=ask, hold_until=str(release)))
    try:
        _wait_for(lambda: "avo-t1" in str(_gpu_holders(broker)), what="tenant 1's lease")
        refused = run_tenant("avo-t2", code, _session(broker, broker.workspace("avo-t2"),
                                                      policy={**ask, "broker_wait": False}))
        second = start_tenant("avo-t2", code, _session(broker, broker.workspace("avo-t2"), run_id="gpu-second",
                                                       policy=ask))
        assert second.stderr is not None
        notice = second.stderr.readline()  # the broker tells the waiting run who holds the GPU
        assert "avo-t1" in str(_gpu_holders(broker))
    finally:
        release.touch()
        try:
            held_first, held_second = _events(first), _events(second)
        finally:
            release.unlink()
    assert held_first[0]["gpus"] == held_second[0]["gpus"] == ["GPU-0a0a0a0a-test-0000"]
    assert held_second[0]["t"] >= held_first[-1]["t"] - 0.05, "tenant 2 got GPU 0 while tenant 1 held it"
    assert refused[0]["type"] == "GpuUnavailable" and "held by avo-t1" in refused[0]["message"], refused
    assert notice.startswith("avo-sandboxd: waiting for 1 GPU(s): GPU 0 (GPU-0a0a0a0a-test-0000) held by avo-t1")


def _gpu_holders(broker: TestBroker) -> list:
    from sandbox.backends.broker import broker_request

    return [gpu["holder"] for gpu in broker_request(broker.socket, {"kind": "status"})["status"]["gpus"]]


@pytest.mark.parametrize("asked, reason", [("1", "GPU 1 is not one of yours (yours: 0)"),
                                           ("all", "gpus: all is refused"),
                                           ("count=2", "your limit is 1 at once")])
def test_only_the_tenants_own_gpus_are_leased(broker: TestBroker, code: Path, asked: str, reason: str) -> None:
    # a client may claim the host is its own (allow_all_gpus): the broker refuses "all" regardless
    own_host = {"allow_all_gpus": True} if asked == "all" else {}
    events = run_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"),
                                                 policy={"memory": "256m", "gpus": asked, **own_host}))
    assert events[0]["event"] == "error" and reason in events[0]["message"], events


def test_a_count_gets_a_free_gpu_among_the_tenants(broker: TestBroker, code: Path) -> None:
    holder = start_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"),
                                                   policy={"memory": "256m", "gpus": 1}, hold_s=2))
    _wait_for(lambda: "avo-t1" in str(_gpu_holders(broker)), what="tenant 1's lease")
    events = run_tenant("avo-t2", code, _session(broker, broker.workspace("avo-t2"),
                                                 policy={"memory": "256m", "gpus": 1, "broker_wait": False}))
    _events(holder)
    assert events[0]["gpus"] == ["GPU-1b1b1b1b-test-1111"], events


# Clients and brokers that die -------------------------------------------------------------------

def test_killing_a_client_releases_its_leases_and_removes_its_containers(broker: TestBroker, code: Path) -> None:
    gpu_holder = start_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"), run_id="killed-gpu",
                                                       policy={"memory": "256m", "gpus": "0"}, hold_s=120))
    caller = start_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"), run_id="killed-call",
                                                   policy={"memory": "256m", "pool_size": 1}, calls=["sleep 120"]))
    _wait_for(lambda: "avo-t1" in str(_gpu_holders(broker)), what="the lease")
    _wait_for(lambda: len(containers_labelled("avo.run=killed-call")) >= 2, what="the call and its warm pool")
    waiter = start_tenant("avo-t2", code, _session(broker, broker.workspace("avo-t2"), policy={
        "memory": "256m", "gpus": "0"}))
    for process in (gpu_holder, caller):
        os.kill(process.pid, signal.SIGKILL)  # setpriv execs the tenant's Python: this is the client
        process.wait()
    killed = time.monotonic()
    events = _events(waiter)
    assert events[0]["event"] == "open" and events[0]["gpus"] == ["GPU-0a0a0a0a-test-0000"], events
    _wait_for(lambda: not containers_labelled("avo.run=killed-call"), timeout=15, what="the killed client's containers")
    assert time.monotonic() - killed < 15


def _broker_of_its_own(name: str) -> TestBroker:
    return TestBroker(name=name, tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"])]).start()


def _call_in_flight(broker: TestBroker, code: Path, run_id: str) -> subprocess.Popen[str]:
    """A tenant's session with a warm pool and a long call running, once both containers exist."""
    caller = start_tenant("avo-t1", code, _session(broker, broker.workspace("avo-t1"), run_id=run_id,
                                                   policy={"memory": "256m", "pool_size": 1}, calls=["sleep 120"]))
    _wait_for(lambda: len(containers_labelled(f"avo.run={run_id}")) >= 2, what="the call and its warm pool")
    return caller


def test_killing_and_restarting_the_broker_leaves_nothing_behind(code: Path) -> None:
    name = f"t{os.getpid()}-restart"
    dying = _broker_of_its_own(name)
    try:
        caller = _call_in_flight(dying, code, "orphaned")
        dying.kill()
        killed = time.monotonic()
        events = _events(caller)
        assert time.monotonic() - killed < 10, "the client hung after the broker died"
        error = [e for e in events if e["event"] == "error"][0]
        assert error["type"] == "BrokerUnavailable" and "closed the connection" in error["message"], events
        assert containers_labelled("avo.run=orphaned") and _pinned(dying)  # a killed broker cleans nothing
        dying.start()
        assert not containers_labelled(f"avo.broker={name}") and not _pinned(dying)
        again = run_tenant("avo-t1", code, _session(dying, dying.workspace("avo-t1"), calls=["echo back"]))
        assert [e.get("stdout") for e in again if e["event"] == "result"] == ["back\n"]
    finally:
        dying.remove()


def test_stopping_the_broker_ends_every_session_cleanly(code: Path) -> None:
    name = f"t{os.getpid()}-stop"
    stopping = _broker_of_its_own(name)
    try:
        caller = _call_in_flight(stopping, code, "stopped")
        stopping.stop()  # SIGTERM, as systemctl stop
        assert stopping.process is not None and stopping.process.returncode == 0
        assert not containers_labelled(f"avo.broker={name}") and not _pinned(stopping)
        error = [e for e in _events(caller) if e["event"] == "error"][0]
        assert error["type"] == "BrokerUnavailable", error
        audit = stopping.audit()
    finally:
        stopping.remove()
    # The call cut short by the stop is in the audit log, and so is the session's end.
    interrupted = [line for line in audit if line["event"] == "interrupted" and line["run"] == "stopped"]
    assert interrupted and interrupted[0]["uid"] == uid_of("avo-t1") and interrupted[0]["calls"] == 1, audit
    assert [line["event"] for line in audit][-1] == "stopped"


def _pinned(broker: TestBroker) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(broker.pins) in line]
