"""What a call costs through a held Slurm allocation, against the same node's local backend.

Not a timed test: run it by hand, as root, on a quiet machine with the cluster of
scripts/setup-slurm.sh up (`python bench/slurm_latency.py`). Prints the p50 and p95 of
``-n`` calls of `true` (after one warm-up call), every pair measured in the same run:

- ``pool_size`` 0 and 2 (calls paced so a warm pool has refilled, as bench/sandbox_overhead.py);
- ``node_backend: docker`` against the docker backend (as this user), and ``node_backend:
  broker`` against the broker backend (as tenant avo-t1, through a broker of the bench's own);
- for slurm, the persistent helper step (the default) and one job step per call
  (``persistent_helper: false``, the fallback);

and the ratio of each slurm row to its local baseline (the goal: <= 1.2x with the helper).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from tenant_hosts import TEST_SRV, TestBroker, as_tenant, require_tenants, rule, tenant_code  # noqa: E402

FAST = {"heartbeat_s": 1.0, "stale_after_s": 6.0, "poll_s": 0.5}
#: Pause between calls with a warm pool, so it has refilled (as bench/sandbox_overhead.py).
POOL_REFILL_S = 0.8
IMAGE = "avo-sandbox:cpu"

#: Runs in a process of its own (this user's, or a tenant's): open a sandbox, make calls, print the samples.
SAMPLER = """
import json, sys, time
from pathlib import Path
from sandbox import Sandbox, SandboxPolicy
policy, workspace, n, pause = SandboxPolicy.model_validate_json(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
with Sandbox(policy, workspace, purpose="bench") as sandbox:
    assert sandbox.exec(["true"]).exit_code == 0
    samples = []
    for _ in range(n):
        time.sleep(pause)
        started = time.perf_counter()
        assert sandbox.exec(["true"]).exit_code == 0
        samples.append(time.perf_counter() - started)
print(json.dumps(samples))
"""


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def sample(policy: dict[str, Any], workspace: Path, n: int, pause: float, tenant: tuple[str, Path] | None) -> list[float]:
    """Seconds per call of `true`, in a fresh process (as ``tenant`` = (user, code) when given)."""
    argv = ["-c", SAMPLER, json.dumps(policy), str(workspace), str(n), str(pause)]
    command = as_tenant(tenant[0], argv, tenant[1]) if tenant else [sys.executable, *argv]
    env = None if tenant else {"PYTHONPATH": str(REPO), "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run(command, capture_output=True, text=True, cwd="/", env=env, timeout=1800)
    if done.returncode:
        raise SystemExit(f"calls with {policy} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def rows(n: int, root: Path, broker: TestBroker | None, code: Path | None) -> list[tuple[str, str, list[float]]]:
    """(baseline label, row label, samples) for every pair, baseline rows first in each pair."""
    out = []
    for pool in (0, 2):
        pause = POOL_REFILL_S if pool else 0.0
        pairs: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, Path] | None, Any]] = [
            ("docker", {}, {"node_backend": "docker"}, None, lambda name: root / name)]
        if broker is not None and code is not None:
            pairs.append(("broker", {"backend": "broker", "broker_socket": broker.socket},
                          {"node_backend": "broker"}, ("avo-t1", code), lambda name: broker.workspace("avo-t1")))
        for local, local_policy, node, tenant, folder in pairs:
            base = {"image": IMAGE, "memory": "256m", "pool_size": pool, "timeout_s": 60}
            label = f"{local} backend, pool_size {pool}"
            out.append((label, label, sample({**base, **local_policy}, folder(f"{local}-{pool}"), n, pause, tenant)))
            for helper in (True, False):
                slurm = {**FAST, **node, "state_dir": str(folder(f"state-{local}-{pool}-{helper}")),
                         "persistent_helper": helper}
                if local == "broker":
                    slurm["node_backend"] = "broker"
                    base_slurm = {**base, "broker_socket": broker.socket}  # type: ignore[union-attr]
                else:
                    base_slurm = base
                name = (f"slurm, node_backend {node['node_backend']}, pool_size {pool}, "
                        f"{'persistent helper' if helper else 'one step per call'}")
                out.append((label, name, sample({**base_slurm, "backend": "slurm", "slurm": slurm},
                                                folder(f"slurm-{local}-{pool}-{helper}"), n, pause, tenant)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="calls per row")
    parser.add_argument("--no-broker", action="store_true", help="only the docker pairs (no tenant users needed)")
    args = parser.parse_args()
    broker = code = None
    with tempfile.TemporaryDirectory(prefix="avo-bench-slurm-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        if not args.no_broker:
            require_tenants()
            broker = TestBroker(name="bench-slurm", tenants=[rule(images=[IMAGE], max_containers=8,
                                                               workspace_roots=[f"{TEST_SRV}/bench-slurm/{{user}}"])])
            code = tenant_code(root)
            broker.start()
        try:
            measured = rows(args.n, root, broker, code)
        finally:
            if broker is not None:
                broker.remove()
    baselines = {label: statistics.median(samples) for label, name, samples in measured if label == name}
    print(f"\np50/p95 of {args.n} calls of `true` per row, one run, on this node\n")
    print("| path | p50 ms | p95 ms | p50 vs its local backend |")
    print("|---|---|---|---|")
    for label, name, samples in measured:
        ratio = statistics.median(samples) / baselines[label]
        print(f"| {name} | {statistics.median(samples) * 1e3:.1f} | {percentile(samples, 95) * 1e3:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
