"""Many tenants at once (issue 17): four real ``avo run``s, each as its own tenant user,
through one broker with fake GPUs for about a minute, while a fifth tenant floods it.
Only invariants are asserted (tests/load_tenants.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from load_tenants import FD_BOUND, RSS_BOUND, Runner, flood, load_broker, logged_calls, under_load, violations
from tenant_hosts import containers_labelled, require_tenants, uid_of

pytestmark = [pytest.mark.docker, pytest.mark.timeout(400)]

RUNNERS = ("avo-t1", "avo-t2", "avo-t3", "avo-t4")
FLOODER = "avo-t5"
DURATION_S = float(os.environ.get("AVO_LOAD_S", "60"))


def test_four_runs_and_a_flooding_tenant_keep_every_invariant(code: Path) -> None:
    require_tenants(extra=(*RUNNERS, FLOODER))
    broker = load_broker(f"t{os.getpid()}-load").start()
    try:
        until = time.monotonic() + DURATION_S
        runners = [Runner(user, broker, code) for user in RUNNERS]
        threads = [threading.Thread(target=runner.loop, args=(until,)) for runner in runners]
        flooded: list[str] = []
        threads.append(threading.Thread(target=lambda: flooded.extend(flood(FLOODER, broker, code, until))))
        samples = under_load(threads, broker, until)
        audit = broker.audit()
        logs = {run["folder"]: logged_calls(run["folder"]) for runner in runners for run in runner.runs
                if run["rc"] == 0}
    finally:
        broker.remove()
    runs = [run for runner in runners for run in runner.runs]
    failed = [run for run in runs if run["rc"] != 0]
    assert runs and not failed, failed[:2]
    assert samples and not violations(samples), violations(samples)[:5]
    assert flooded and {"connections", "frames", "frames_raw", "stall"} <= {f.split(":")[0] for f in flooded}
    flooder = [line for line in audit if line.get("uid") == uid_of(FLOODER)]
    assert any(line["event"] == "dropped" and "notice not taken" in line["reason"] for line in flooder)
    assert any(line["event"] == "refused" and line["request"] == "connect" for line in flooder)
    assert any(line["event"] == "refused" and "over the broker's limit" in line["reason"] for line in flooder)
    audited = [line for line in audit if line["event"] == "call"]
    for run in runs:
        run_id, logged = logs[run["folder"]]
        mine = [line for line in audited if line["tenant"] == run["user"] and line.get("run") == run_id]
        assert logged and len(mine) >= logged, (run["user"], run_id, logged, len(mine))
    assert not containers_labelled(f"avo.broker={broker.name}")
    assert not (broker.pins.exists() and any(broker.pins.iterdir()))
    print(f"\n{len(runs)} runs, {len(audited)} calls, {len(flooded)} floods; broker peak "
          f"{max(s['rss'] for s in samples) / 2**20:.0f} MiB (bound {RSS_BOUND / 2**20:.0f}), "
          f"{max(s['fds'] for s in samples)} fds (bound {FD_BOUND})")
