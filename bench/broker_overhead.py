"""What the multi-tenant broker costs: warm calls through avo-sandboxd vs the docker backend.

Not a timed test: run it by hand as root on a host set up by scripts/setup-broker.sh
(`python bench/broker_overhead.py`). It starts a broker of its own (from this
checkout), then measures in one run:

1. warm-pool call latency (`true`, paced like an agent) p50/p95 through the direct
   docker backend (in this process) and through the broker (from a tenant's process,
   as a tenant really calls it); target: the broker adds under 5 ms at p50;
2. k concurrent tenants (k = 1, 2, 4; users avo-t1..avo-t4), each calling back to
   back in its own session: total throughput and p95 latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from sandbox import Sandbox, SandboxPolicy  # noqa: E402
from tenant_hosts import TEST_SRV, TestBroker, as_tenant, require_tenants, rule, tenant_code  # noqa: E402

#: Pause between paced warm calls so the pool has refilled (as bench/sandbox_overhead.py).
POOL_REFILL_S = 0.8
BENCH_TENANTS = ("avo-t1", "avo-t2", "avo-t3", "avo-t4")

#: Runs in a tenant's process: open a broker session, make calls, print the samples.
TENANT_LOOP = """
import json, sys, time
from pathlib import Path
from sandbox import Sandbox, SandboxPolicy
socket, workspace, n, pause, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
policy = SandboxPolicy(backend="broker", broker_socket=socket, memory="256m", pool_size=2)
with Sandbox(policy, Path(workspace), purpose="bench") as sandbox:
    sandbox.exec(["true"])
    time.sleep(max(0.0, start_at - time.time()) + pause * 2)
    samples, began = [], time.time()
    for _ in range(n):
        time.sleep(pause)
        started = time.perf_counter()
        assert sandbox.exec(["true"]).exit_code == 0
        samples.append(time.perf_counter() - started)
    print(json.dumps({"samples": samples, "began": began, "ended": time.time()}))
"""


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def direct_warm(image: str, workspace: Path, n: int) -> list[float]:
    """The docker backend's warm pool, paced, in this process."""
    with Sandbox(SandboxPolicy(image=image, memory="256m", pool_size=2), workspace, purpose="bench") as warm:
        warm.exec(["true"])
        time.sleep(POOL_REFILL_S * 2)
        samples = []
        for _ in range(n):
            time.sleep(POOL_REFILL_S)
            started = time.perf_counter()
            warm.exec(["true"])
            samples.append(time.perf_counter() - started)
    return samples


def tenants_calling(broker: TestBroker, code: Path, users: tuple[str, ...], n: int, pause: float) -> list[dict]:
    """Each user calls ``n`` times in its own session, all starting together."""
    start_at = time.time() + 3.0
    processes = [subprocess.Popen(as_tenant(user, ["-c", TENANT_LOOP, broker.socket, str(broker.workspace(user)),
                                                   str(n), str(pause), str(start_at)], code),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
                 for user in users]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        if process.returncode:
            raise SystemExit(f"a tenant's calls failed:\n{err}")
        reports.append(json.loads(out.splitlines()[-1]))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="avo-sandbox:cpu")
    parser.add_argument("-n", type=int, default=20, help="warm calls per path, and per tenant in the k runs")
    args = parser.parse_args()
    require_tenants()
    for user in BENCH_TENANTS:  # the k = 4 run needs two more tenants than the tests
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", "avo-tenants",
                        user], capture_output=True)
    name = "bench-broker"
    broker = TestBroker(name=name, tenants=[rule(images=[args.image], max_containers=4,
                                                 workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"])])
    with tempfile.TemporaryDirectory(prefix="avo-bench-", dir="/var/tmp") as base, \
            tempfile.TemporaryDirectory(prefix="avo-bench-") as direct_workspace:
        Path(base).chmod(0o755)
        code = tenant_code(Path(base))
        broker.start()
        try:
            direct = direct_warm(args.image, Path(direct_workspace), args.n)
            through = tenants_calling(broker, code, BENCH_TENANTS[:1], args.n, POOL_REFILL_S)[0]["samples"]
            concurrent = {k: tenants_calling(broker, code, BENCH_TENANTS[:k], args.n, 0.0) for k in (1, 2, 4)}
        finally:
            broker.remove()
    print(f"{'warm call (true), paced':<34}{'p50 ms':>9}{'p95 ms':>9}")
    print("-" * 52)
    for label, samples in (("docker backend (direct)", direct), ("broker (tenant process)", through)):
        print(f"{label:<34}{statistics.median(samples) * 1e3:>9.1f}{percentile(samples, 95) * 1e3:>9.1f}")
    added = (statistics.median(through) - statistics.median(direct)) * 1e3
    print(f"\nbroker adds {added:+.1f} ms at p50 (target < 5 ms): {'PASS' if added < 5 else 'FAIL'}\n")
    print(f"{'k tenants, back to back':<26}{'calls/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'vs k=1':>9}")
    print("-" * 62)
    base_rate = 0.0
    for k, reports in concurrent.items():
        samples = [s for report in reports for s in report["samples"]]
        wall = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
        rate = len(samples) / wall
        base_rate = base_rate or rate
        print(f"{k:<26}{rate:>9.1f}{statistics.median(samples) * 1e3:>9.1f}{percentile(samples, 95) * 1e3:>9.1f}"
              f"{rate / base_rate:>8.2f}x")


if __name__ == "__main__":
    main()
