"""The broker's shared state under attack (issue 17): hostile tenants speaking its wire
protocol directly, as the unprivileged users avo-t1/avo-t2, against a real broker.

Each test is an attack that took the host, froze other tenants or escaped a limit
before the fix; each was checked to fail with its fix removed (docs/ARCHITECTURE.md,
"The broker's shared state").
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenant_hosts import TEST_SRV, TestBroker, rule, run_tenant, start_tenant, uid_of

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

MiB = 2**20
LIMITS = {"send_deadline_s": 5, "frame_deadline_s": 4, "max_frame_bytes": 9 * MiB,
          "max_frame_bytes_per_user": 20 * MiB, "max_frame_bytes_total": 40 * MiB,
          "max_connections_per_user": 40, "max_connections": 100}


@pytest.fixture(scope="module")
def broker(code: Path) -> Iterator[TestBroker]:
    """avo-t1 may lease GPUs 0 and 1 (two at once); avo-t2 either, one at a time, three sessions."""
    name = f"t{os.getpid()}-state"
    roots = [f"{TEST_SRV}/{name}/{{user}}"]
    started = TestBroker(name=name, fake_gpu_host=True, limits=LIMITS, gpus=[
        {"index": 0, "uuid": "GPU-0a0a0a0a-test-0000"}, {"index": 1, "uuid": "GPU-1b1b1b1b-test-1111"}], tenants=[
        rule(user="avo-t1", group=None, workspace_roots=roots, gpus=[0, 1], max_gpus=2, max_containers=4),
        rule(workspace_roots=roots, gpus=[0, 1], max_gpus=1, max_containers=4, max_sessions=3),
    ])
    try:
        yield started.start()
    finally:
        started.remove()


def _session(broker: TestBroker, user: str, **request) -> dict:  # type: ignore[no-untyped-def]
    return {"socket": broker.socket, "workspace": str(broker.workspace(user)), "policy": {"memory": "256m"},
            **request}


def _line(process: subprocess.Popen[str], event: str, timeout: float = 60) -> dict:
    """The next event line of ``process`` that is ``event`` (its stderr if it ends first)."""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"ended before {event!r}: {process.stderr.read() if process.stderr else ''}")
        found = json.loads(line)
        if found["event"] == event:
            return found
    raise AssertionError(f"no {event!r} within {timeout} s")


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _refusals(broker: TestBroker, user: str) -> list[dict]:
    return [line for line in broker.audit() if line["event"] == "refused" and line.get("uid") == uid_of(user)]


def _signal(name: str) -> Path:
    """A file path every tenant can see (the test creates it to release a tenant)."""
    path = Path(f"/var/tmp/avo-test-{os.getpid()}-{name}")
    path.unlink(missing_ok=True)
    return path


def _rss(broker: TestBroker) -> int:
    assert broker.process is not None
    pid = broker.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    status = Path(f"/proc/{children[0] if children else pid}/status").read_text()  # under prlimit: its child
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024


# Hole 3: a client that never reads freezes nobody ------------------------------------------------

def test_a_waiting_client_that_never_reads_freezes_no_other_tenant(broker: TestBroker, code: Path) -> None:
    release_holder, release_attacker = _signal("holder"), _signal("attacker")
    holder = start_tenant("avo-t1", code, _session(broker, "avo-t1", run_id="holds-gpu0",
                                                   policy={"memory": "256m", "gpus": "0"},
                                                   hold_until=str(release_holder)))
    attacker = None
    try:
        assert _line(holder, "open")["gpus"] == ["GPU-0a0a0a0a-test-0000"]
        # avo-t2 fills its socket with replies it never reads, then opens a session that
        # waits for GPU 0: the broker's "waiting for GPU 0" notice cannot be delivered.
        attacker = start_tenant("avo-t2", code, {**_session(broker, "avo-t2", policy={"memory": "256m", "gpus": "0"}),
                                                 "mode": "stall", "hold_until": str(release_attacker)},
                                script="tenant_attack.py")
        assert _line(attacker, "calibrated")["fits"] > 10
        _line(attacker, "stalled")
        time.sleep(1.0)  # the broker reads the requests, answers them, and queues the notice
        # Meanwhile every other tenant's status, GPU request and release goes through at once.
        started = time.monotonic()
        status = run_tenant("avo-t1", code, {"mode": "raw", "socket": broker.socket,
                                             "messages": [{"kind": "status"}]}, timeout=20)[-1]["replies"][0]
        assert status["ok"], status
        other = run_tenant("avo-t1", code, _session(broker, "avo-t1", run_id="asks-gpu1",
                                                    policy={"memory": "256m", "gpus": "1"}), timeout=20)
        assert other[0]["event"] == "open" and other[0]["gpus"] == ["GPU-1b1b1b1b-test-1111"], other
        release_holder.touch()
        _line(holder, "closed", timeout=20)
        assert time.monotonic() - started < LIMITS["send_deadline_s"], "other tenants waited on the stalled client"
        # The stalled client is dropped at the send deadline: its session (and wait) ended, audited.
        _wait_for(lambda: any(line["event"] == "dropped" and "notice not taken" in line["reason"]
                              and line["uid"] == uid_of("avo-t2") for line in broker.audit()),
                  LIMITS["send_deadline_s"] + 10, "the stalled client to be dropped")
    finally:
        for path in (release_holder, release_attacker):
            path.touch()
        for process in (holder, attacker):
            if process is not None:
                process.kill()
                process.wait()
        for path in (release_holder, release_attacker):
            path.unlink()


# Hole 5: limits hold per tenant, whatever arrives at once --------------------------------------------

def _opened_behind_a_barrier(broker: TestBroker, code: Path, user: str, count: int, policy: dict,
                             calls: list[str] | None = None, while_held=None) -> list[dict]:  # type: ignore[no-untyped-def]
    """``count`` processes of ``user`` each open a session at the same moment (and make
    ``calls``) and hold it; the first event of each (open or error). ``while_held()`` runs
    while they hold their sessions."""
    barrier, release = _signal("barrier"), _signal("release")
    processes = [start_tenant(user, code, _session(broker, user, run_id=f"burst-{i}", policy=policy,
                                                   calls=calls or [], start_after=str(barrier),
                                                   hold_until=str(release)))
                 for i in range(count)]
    try:
        time.sleep(3.0)  # every process has imported the client and polls for the barrier
        barrier.touch()
        firsts = []
        for process in processes:
            assert process.stdout is not None
            firsts.append(json.loads(process.stdout.readline()))
        if while_held is not None:
            while_held()
        return firsts
    finally:
        release.touch()
        for process in processes:
            process.communicate(timeout=60)
        barrier.unlink()
        release.unlink()


def test_sessions_opened_at_once_never_exceed_the_tenants_limit(broker: TestBroker, code: Path) -> None:
    firsts = _opened_behind_a_barrier(broker, code, "avo-t2", 8, {"memory": "256m"})
    opened = [event for event in firsts if event["event"] == "open"]
    assert len(opened) == 3, firsts  # max_sessions: 3, counted from the moment each open is accepted
    assert all("your limit is 3" in event["message"] for event in firsts if event["event"] == "error"), firsts


def test_gpu_requests_at_once_never_exceed_the_tenants_gpu_limit(broker: TestBroker, code: Path) -> None:
    firsts = _opened_behind_a_barrier(broker, code, "avo-t2", 3,
                                      {"memory": "256m", "gpus": "count=1", "broker_wait": False})
    leased = [event["gpus"] for event in firsts if event["event"] == "open"]
    assert len(leased) == 1 and len(leased[0]) == 1, firsts  # max_gpus: 1, though GPUs 0 and 1 are both free
    assert all("already hold 1 GPU" in event["message"] for event in firsts if event["event"] == "error"), firsts


def test_pools_and_calls_opened_at_once_never_exceed_the_tenants_containers(broker: TestBroker, code: Path) -> None:
    seen: list[int] = []

    def containers() -> None:
        for _ in range(20):  # the pools fill and the calls run while the sessions are held
            seen.append(len(subprocess.run(["docker", "ps", "-q", "--filter", "label=avo.tenant=avo-t2", "--filter",
                                            f"label=avo.broker={broker.name}"], capture_output=True,
                                           text=True).stdout.split()))
            time.sleep(0.1)

    firsts = _opened_behind_a_barrier(broker, code, "avo-t2", 3, {"memory": "256m", "pool_size": 2},
                                      calls=["sleep 1"], while_held=containers)
    assert [event["event"] for event in firsts] == ["open"] * 3, firsts
    assert max(seen) <= 4 and max(seen) >= 1, seen  # max_containers: 4 = warm pools + calls, at every moment


# Lease groups: one lease per run, shared by its sessions -----------------------------------------------

def test_the_sessions_of_one_run_share_its_gpu_lease(broker: TestBroker, code: Path) -> None:
    release_shell, release_scorer = _signal("shell"), _signal("scorer")
    ask = {"memory": "256m", "gpus": "count=1", "broker_wait": False}
    shell = start_tenant("avo-t2", code, _session(broker, "avo-t2", run_id="one-run", policy=ask,
                                                  hold_until=str(release_shell)))
    scorer = start_tenant("avo-t2", code, _session(broker, "avo-t2", run_id="one-run", policy=ask,
                                                   hold_until=str(release_scorer)))
    try:
        gpus = [_line(shell, "open")["gpus"], _line(scorer, "open")["gpus"]]
        assert gpus[0] == gpus[1] and len(gpus[0]) == 1, gpus  # one lease, within max_gpus: 1
        other = run_tenant("avo-t2", code, _session(broker, "avo-t2", run_id="another-run", policy=ask))
        assert other[0]["event"] == "error" and "already hold 1 GPU" in other[0]["message"], other
        release_shell.touch()
        _line(shell, "closed")
        assert _holders(broker) == {gpus[0][0]: ["avo-t2", "one-run"]}  # the scorer still holds it
        release_scorer.touch()
        _line(scorer, "closed")
        assert _holders(broker) == {}
    finally:
        for path in (release_shell, release_scorer):
            path.touch()
        for process in (shell, scorer):
            process.kill()
            process.wait()
            process.stdout.close()  # type: ignore[union-attr]
            process.stderr.close()  # type: ignore[union-attr]
        for path in (release_shell, release_scorer):
            path.unlink()


def _holders(broker: TestBroker) -> dict:
    from sandbox.backends.broker import broker_request

    return broker_request(broker.socket, {"kind": "status"})["status"]["load"]["leases"]


# Hole 9: binary stdin is framed without JSON's 6x blow-up; too much is refused by name -----------------

def test_binary_stdin_fits_the_frame_limit_and_too_much_is_refused_by_name(broker: TestBroker, code: Path) -> None:
    # 6 MB of random bytes: 8 MB as base64, under this broker's 9 MiB frames (about 21 MB as JSON text).
    fits, too_big = (run_tenant("avo-t1", code, _session(broker, "avo-t1", calls=[
        {"stdin_random": size, "command": "sha256sum"}]))[1] for size in (6 * 10**6, 8 * 10**6))
    assert fits["event"] == "result" and fits["stdout"].split()[0] == fits["sent_sha256"], fits
    assert too_big["event"] == "error" and "over the broker's limit of 9437184" in too_big["message"], too_big


# Hole 8: every refusal audited with uid and reason, merged per window; deep JSON refused cleanly ---------

def test_every_refusal_is_audited_and_repeats_are_merged(code: Path) -> None:
    name = f"t{os.getpid()}-audit"
    audited = TestBroker(name=name, tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"])]).start()
    try:
        bodies = ['{"kind": "exec", "container": "0123456789ab"}', '{"kind": "status", "extra": 1}',
                  '{"kind": "status"', "[1, 2]", {"deep": 200_000}, '{"kind": "nope"}',
                  '{"kind": "status"}']
        replies = run_tenant("avo-t1", code, {"mode": "frames_raw", "socket": audited.socket, "bodies": bodies,
                                              "repeat": 1}, script="tenant_attack.py")[-1]["replies"]
        repeated = run_tenant("avo-t1", code, {"mode": "frames_raw", "socket": audited.socket,
                                               "bodies": ['{"kind": "nope"}', '{"kind": "status"}'], "repeat": 25},
                              script="tenant_attack.py")[-1]["replies"]
    finally:
        audited.stop()  # flushes the merged counts
        lines = audited.audit()
        audited.remove()
    messages = [reply[0]["message"] if reply[0] else None for reply in replies[:6]]
    assert ["not a broker request" in messages[0], "extra" in messages[1], "not JSON" in messages[2],
            "JSON object" in messages[3], "nests too deeply" in messages[4],
            "not a broker request" in messages[5]] == [True] * 6, messages
    assert all(reply["ok"] for reply in repeated[1]) and not any(reply["ok"] for reply in repeated[0])
    mine = [line for line in lines if line.get("uid") == uid_of("avo-t1")]
    reasons = [line["reason"] for line in mine if line["event"] == "refused"]
    for fragment in ("'exec'", "extra", "not JSON", "JSON object", "nests too deeply"):
        assert any(fragment in reason for reason in reasons), (fragment, reasons)
    nope = [line for line in mine if line["event"] == "refused" and line["request"] == "nope"]
    assert sum(line.get("repeated", 1) for line in nope) == 26 and len(nope) == 2, nope
    status = [line for line in mine if line["event"] == "status"]
    assert sum(line.get("repeated", 1) for line in status) == 26 and len(status) == 2, status


# Hole 6: idle connections hold no frame; frame bytes are bounded per user ------------------------------

def test_idle_connections_after_big_frames_hold_no_memory(broker: TestBroker, code: Path) -> None:
    release = _signal("frames")
    before = _rss(broker)
    idle = start_tenant("avo-t2", code, {"mode": "frames", "socket": broker.socket, "count": 4, "size": 8 * MiB,
                                         "hold_until": str(release)}, script="tenant_attack.py")
    try:
        sent = _line(idle, "sent")
        assert sent["count"] >= 2 and sent["count"] + sent["cut"] == 4, sent  # a third at once is over 20 MiB
        _wait_for(lambda: _load(broker)["frame_bytes_held"] < 1024 and _refused_pads(broker) >= 1, 30,
                  "the four frames to be handled")
        time.sleep(1.0)
        grown = _rss(broker) - before
    finally:
        release.touch()
        idle.communicate(timeout=30)
        release.unlink()
    assert grown < 16 * MiB, f"four idle connections hold {grown / MiB:.0f} MiB of the broker"


def test_half_sent_frames_hold_at_most_the_users_frame_budget(broker: TestBroker, code: Path) -> None:
    release = _signal("halves")
    halves = start_tenant("avo-t2", code, {"mode": "frames", "socket": broker.socket, "count": 3, "size": 8 * MiB,
                                           "part": 0.5, "hold_until": str(release)}, script="tenant_attack.py")
    try:
        _line(halves, "sent")
        _wait_for(lambda: any("per user" in line["reason"] for line in _refusals(broker, "avo-t2")), 15,
                  "the third half frame to be refused (two fill the 20 MiB per user)")
        assert _load(broker)["frame_bytes_held"] <= LIMITS["max_frame_bytes_per_user"]
        # The other tenant's requests still go through meanwhile.
        assert run_tenant("avo-t1", code, {"mode": "raw", "socket": broker.socket,
                                           "messages": [{"kind": "status"}]})[-1]["replies"][0]["ok"]
        # And the half frames are dropped at the frame deadline.
        _wait_for(lambda: _load(broker)["frame_bytes_held"] < 1024, LIMITS["frame_deadline_s"] + 10,
                  "the frame deadline")
        assert any("frame deadline" in line["reason"] for line in _refusals(broker, "avo-t2"))
    finally:
        release.touch()
        halves.communicate(timeout=30)
        release.unlink()


def _load(broker: TestBroker) -> dict:
    """The broker's load as root sees it (its frame bytes include this status request's own)."""
    from sandbox.backends.broker import broker_request

    return broker_request(broker.socket, {"kind": "status"})["status"]["load"]


def _refused_pads(broker: TestBroker) -> int:
    return sum(line.get("repeated", 1) for line in _refusals(broker, "avo-t2") if "pad" in line["reason"])


# Hole 4: out of descriptors, the broker backs off and keeps serving; a fatal error exits non-zero ------------

def test_running_out_of_descriptors_does_not_stop_the_broker(code: Path) -> None:
    name = f"t{os.getpid()}-nofile"
    starved = TestBroker(name=name, nofile=96, limits={"max_connections_per_user": 500, "max_connections": 1000},
                         tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"])]).start()
    release = _signal("nofile")
    try:
        holder = start_tenant("avo-t2", code, {"mode": "connections", "socket": starved.socket, "count": 200,
                                               "hold_until": str(release)}, script="tenant_attack.py")
        _line(holder, "connected")
        _wait_for(lambda: any("accept failed" in line.get("reason", "") for line in starved.audit()), 20,
                  "accept() to fail for want of descriptors")
        release.touch()
        holder.communicate(timeout=30)
        status = run_tenant("avo-t1", code, {"mode": "raw", "socket": starved.socket,
                                             "messages": [{"kind": "status"}]}, timeout=60)[-1]["replies"][0]
        assert status is not None and status["ok"], status
        assert starved.process is not None and starved.process.poll() is None
    finally:
        release.touch()
        starved.remove()
        release.unlink()


def test_a_fatal_accept_error_exits_non_zero(code: Path) -> None:
    name = f"t{os.getpid()}-fatal"
    doomed = TestBroker(name=name, tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"])]).start()
    try:
        assert doomed.process is not None
        # Shut the broker's own listening socket down under it (a copy of its descriptor, taken
        # with pidfd_getfd): accept() then fails with EINVAL, which no back-off can cure.
        listener = _steal_listener(doomed.process.pid, doomed.socket)
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        code_ = doomed.process.wait(timeout=30)
    finally:
        doomed.remove()
    assert code_ == 1, code_


def _steal_listener(pid: int, path: str) -> socket.socket:
    # The listening socket (flags __SO_ACCEPTCON); accepted connections show the same path.
    inode = next(line.split()[6] for line in Path("/proc/net/unix").read_text().splitlines()[1:]
                 if line.split()[-1] == path and line.split()[3] == "00010000")
    fd = next(int(entry.name) for entry in Path(f"/proc/{pid}/fd").iterdir()
              if os.readlink(entry) == f"socket:[{inode}]")
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        stolen = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd (x86-64 and arm64 alike)
        assert stolen >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    return socket.socket(fileno=stolen)



# Hole 9: a lease outlives a container that could not be removed ------------------------------------------

def test_a_gpu_lease_is_kept_until_its_sessions_containers_are_really_gone(broker: TestBroker, code: Path) -> None:
    release = _signal("unremovable")
    holder = start_tenant("avo-t1", code, _session(broker, "avo-t1", run_id="unremovable",
                                                   policy={"memory": "256m", "gpus": "1"}, hold_until=str(release)))
    container, pinned = "", None
    try:
        assert _line(holder, "open")["gpus"] == ["GPU-1b1b1b1b-test-1111"]
        session = next(line["session"] for line in broker.audit()
                       if line["event"] == "open" and line.get("run") == "unremovable")
        # A container of that session whose removal fails, as during a dockerd restart: an
        # immutable file in its writable layer makes `rm -f` fail until the flag is cleared.
        container = subprocess.run(["docker", "run", "-d", "--label", "avo.owner=avo", "--label",
                                    f"avo.session={session}", "--label", f"avo.broker={broker.name}",
                                    "avo-sandbox:cpu", "sleep", "300"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        upper = subprocess.run(["docker", "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", container],
                               capture_output=True, text=True, check=True).stdout.strip()
        pinned = Path(upper) / "immutable"
        pinned.touch()
        subprocess.run(["chattr", "+i", str(pinned)], check=True)
        release.touch()
        _line(holder, "closed")
        time.sleep(5)  # two housekeeping rounds fail to remove it meanwhile
        assert _holders(broker) == {"GPU-1b1b1b1b-test-1111": ["avo-t1", "unremovable"]}
        assert any(line["event"] == "lease_kept" and line.get("session") == session for line in broker.audit())
        subprocess.run(["chattr", "-i", str(pinned)], check=True)
        pinned = None
        _wait_for(lambda: not _holders(broker), 20, "the lease to end once the container is gone")
        assert not subprocess.run(["docker", "ps", "-aq", "--filter", f"id={container}"], capture_output=True,
                                  text=True).stdout.strip()
    finally:
        release.touch()
        if pinned is not None:
            subprocess.run(["chattr", "-i", str(pinned)])
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        holder.kill()
        holder.communicate()
        release.unlink()


def test_connections_are_capped_per_user_and_host_wide_and_refusals_audited(code: Path) -> None:
    name = f"t{os.getpid()}-caps"
    capped = TestBroker(name=name, limits={"max_connections_per_user": 20, "max_connections": 30},
                        tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"])]).start()
    releases = [_signal("caps-1"), _signal("caps-2")]
    holders = []
    try:
        for user, release in zip(("avo-t1", "avo-t2"), releases):
            holders.append(start_tenant(user, code, {"mode": "connections", "socket": capped.socket, "count": 25,
                                                     "hold_until": str(release)}, script="tenant_attack.py"))
            _line(holders[-1], "connected")
        _wait_for(lambda: len([line for line in capped.audit() if line["event"] == "refused"]) >= 2, 20,
                  "the refusals")
        reasons = {line["uid"]: line["reason"] for line in capped.audit() if line["event"] == "refused"}
    finally:
        for release in releases:
            release.touch()
        for holder in holders:
            holder.communicate(timeout=30)
        for release in releases:
            release.unlink()
        capped.remove()
    assert "your limit is 20" in reasons[uid_of("avo-t1")], reasons  # its 21st to 25th
    assert "its limit of 30 connections" in reasons[uid_of("avo-t2")], reasons  # 20 + 10 fill the host
