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
