"""The broker under a flooding tenant: well-behaved tenants' call latency with and without it.

Not a timed test: run it by hand as root on a host set up by scripts/setup-broker.sh
(`python bench/broker_load.py [--tenants 8] [--seconds 60]`). It starts a broker of its
own (from this checkout, fake GPUs, the load test's limits: tests/load_tenants.py), then
in one run:

1. baseline: ``--tenants`` users (avo-t1..avo-t8) each open sessions back to back and
   make calls (``true``, no warm pool) for ``--seconds``;
2. flood: the same while avo-t9 floods the broker (a waiting client that never reads,
   connection floods over its cap, oversized and half-sent frames, status floods);

and prints the well-behaved tenants' p50/p95 call latency in both phases and the ratio
(target: flood p95 within 3x of the baseline's), with the invariant checks of the load test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from load_tenants import flood, load_broker, under_load, violations  # noqa: E402
from tenant_hosts import as_tenant, require_tenants, tenant_code  # noqa: E402

FLOODER = "avo-t9"
CALLS_PER_SESSION = 10


def calls(user: str, broker, code: Path, until: float, out: list[float]) -> None:  # type: ignore[no-untyped-def]
    """Sessions of ``CALLS_PER_SESSION`` calls back to back; each call's latency (s), client side."""
    while time.monotonic() < until:
        request = {"socket": broker.socket, "workspace": str(broker.workspace(user)), "run_id": f"bench-{user}",
                   "policy": {"memory": "256m", "pool_size": 0}, "calls": ["true"] * CALLS_PER_SESSION}
        done = subprocess.run(as_tenant(user, [str(code / "tenant_call.py"), json.dumps(request)], code),
                              capture_output=True, text=True, timeout=300, cwd="/")
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        times = [e["t"] for e in events if e["event"] in ("open", "result")]
        out.extend(later - earlier for earlier, later in zip(times, times[1:]))


def phase(users: list[str], broker, code: Path, seconds: float, flooded: bool) -> tuple[list[float], list]:  # type: ignore[no-untyped-def]
    until = time.monotonic() + seconds
    latencies: list[float] = []
    threads = [threading.Thread(target=calls, args=(user, broker, code, until, latencies)) for user in users]
    if flooded:
        threads.append(threading.Thread(target=flood, args=(FLOODER, broker, code, until)))
    return latencies, under_load(threads, broker, until)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    args = parser.parse_args()
    users = [f"avo-t{i}" for i in range(1, args.tenants + 1)]
    require_tenants(extra=(*users, FLOODER))
    code = tenant_code(Path(tempfile.mkdtemp(prefix="avo-bench-code-", dir="/var/tmp")))
    broker = load_broker("bench-load").start()
    try:
        baseline, quiet = phase(users, broker, code, args.seconds, flooded=False)
        loaded, noisy = phase(users, broker, code, args.seconds, flooded=True)
    finally:
        broker.remove()
    rows = [("no flood", baseline, quiet), (f"flood ({FLOODER})", loaded, noisy)]
    print(f"{args.tenants} well-behaved tenants, {args.seconds:g} s per phase, calls of `true` without a warm pool")
    print("| phase | calls | p50 ms | p95 ms | broker peak RSS MiB | peak fds | invariant violations |")
    print("|---|---|---|---|---|---|---|")
    for name, values, samples in rows:
        print(f"| {name} | {len(values)} | {statistics.median(values) * 1000:.1f} | {p95(values) * 1000:.1f} | "
              f"{max(s['rss'] for s in samples) / 2**20:.0f} | {max(s['fds'] for s in samples)} | "
              f"{len(violations(samples))} |")
    ratio = p95(loaded) / p95(baseline)
    print(f"p95 ratio flood / no flood: {ratio:.2f}x (target: within 3x)")
    return 0 if ratio <= 3 and not violations(quiet + noisy) else 1


if __name__ == "__main__":
    sys.exit(main())
