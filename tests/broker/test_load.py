"""Many tenants at once (issue 17): four real ``avo run``s, each as its own tenant user with
the scripted LLM server as its model (on loopback, one per run), through one broker with fake
GPUs for about a minute, while a fifth tenant floods it.
Only invariants are asserted (tests/load_tenants.py)."""

from __future__ import annotations

import os
import threading
from collections import Counter
import time
from pathlib import Path

import pytest

from load_tenants import FD_BOUND, KEY, RSS_BOUND, Runner, flood, load_broker, logged_calls, under_load, violations
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
    # Each run's model was the scripted server, reached with the key from the tenant's environment.
    assert all(run["model_turns"][0] == run["model_turns"][1] and run["keys"] == {f"Bearer {KEY}"}
               for run in runs), [(run["model_turns"], run["keys"]) for run in runs]
    assert samples and not violations(samples), violations(samples)[:5]
    assert flooded and {"connections", "frames", "frames_raw", "stall"} <= {f.split(":")[0] for f in flooded}
    flooder = [line for line in audit if line.get("uid") == uid_of(FLOODER)]
    assert any(line["event"] == "dropped" and "notice not taken" in line["reason"] for line in flooder)
    assert any(line["event"] == "refused" and line["request"] == "connect" for line in flooder)
    assert any(line["event"] == "refused" and "over the broker's limit" in line["reason"] for line in flooder)
    audited = [line for line in audit if line["event"] == "call"]
    run_ids = [logs[run["folder"]][0] for run in runs]
    assert None not in run_ids and len(set(run_ids)) == len(runs), run_ids
    # Exactly: each call a run made has one audit line under its tenant and run id, and no other
    # call of those tenants was audited.
    per_run = Counter((line["tenant"], line.get("run")) for line in audited if line["tenant"] in RUNNERS)
    made = {(run["user"], logs[run["folder"]][0]): logs[run["folder"]][1] for run in runs}
    assert dict(per_run) == made, (dict(per_run), made)
    assert not containers_labelled(f"avo.broker={broker.name}")
    assert not (broker.pins.exists() and any(broker.pins.iterdir()))
    print(f"\n{len(runs)} runs (longest {max(run['s'] for run in runs):.0f} s), {len(audited)} calls, {len(flooded)} floods; broker peak "
          f"{max(s['rss'] for s in samples) / 2**20:.0f} MiB (bound {RSS_BOUND / 2**20:.0f}), "
          f"{max(s['fds'] for s in samples)} fds (bound {FD_BOUND})")
