"""What a call costs through a held Slurm allocation, against the same node's local backend.

Not a timed test: run it by hand, as root, on a quiet machine with the cluster of
scripts/setup-slurm.sh up (`python bench/slurm_latency.py`). Prints the p50 and p95 of
``-n`` calls of `true` (after one warm-up call), every pair measured in the same run:

- ``pool_size`` 0 and 2 (calls paced so a warm pool has refilled, as bench/sandbox_overhead.py);
- ``node_backend: docker`` against the docker backend (as this user), and ``node_backend:
  broker`` against the broker backend (as tenant avo-t1, through a broker of the bench's own);
- for slurm, the persistent helper step (the default) and one job step per call
  (``persistent_helper: false``, the fallback);
- the site's default timings (a 5 s heartbeat and ``squeue`` poll: a faster poll taxes the
  login side being measured);

and the ratio of each slurm row to its local baseline (the goal: <= 1.2x with the helper).
``--first-seed`` adds the time from `avo run` (a fresh process) to the sorting example's
scored seed under each backend, and for slurm the part spent before the allocation ran.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from tenant_hosts import TEST_SRV, TestBroker, as_tenant, require_tenants, rule, tenant_code  # noqa: E402

#: Pause between calls with a warm pool, so it has refilled (as bench/sandbox_overhead.py).
POOL_REFILL_S = 0.8
IMAGE = "avo-sandbox:cpu"
EXAMPLE = REPO / "examples" / "sorting_optimization"

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


def rows(n: int, root: Path, broker: TestBroker | None, code: Path | None, pools: list[int],
         fallback: bool) -> list[tuple[str, str, list[float]]]:
    """(baseline label, row label, samples) for every pair, baseline rows first in each pair."""
    out = []
    for pool in pools:
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
            for helper in (True, False) if fallback else (True,):
                slurm = {**node, "state_dir": str(folder(f"state-{local}-{pool}-{helper}")),
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


def first_seed(backend: str, root: Path) -> dict[str, float]:
    """Seconds from starting `avo run` to the run log's allocation event and scored seed."""
    folder = root / f"seed-{backend}"
    folder.mkdir()
    (folder / "replay.yaml").write_text("turns: []\n")  # the run ends right after the seed
    sandbox: dict = {"backend": backend, "memory": "1g", "timeout_s": 120}
    if backend == "slurm":
        sandbox["slurm"] = {"state_dir": str(root / "state")}
    config = {"workspace_dir": str(folder / "workspace"), "seed_file": str(EXAMPLE / "seed.py"),
              "scoring_module": str(EXAMPLE / "scorer.py"),
              "llm": {"provider": "replay", "replay_file": str(folder / "replay.yaml")}, "sandbox": sandbox}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.time()
    subprocess.run([sys.executable, "-m", "orchestrator", "run", str(folder / "config.yaml")], check=True,
                   capture_output=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                                       "HOME": str(Path.home())})
    seen: dict[str, float] = {}
    for line in (folder / "workspace" / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        at = datetime.fromisoformat(event["ts"]).timestamp() - started
        if event["kind"] == "slurm_allocation":
            seen.setdefault("allocation running", at)
        if event["kind"] == "evaluation" and event.get("purpose") == "seed":
            seen.setdefault("seed scored", at)
            seen.setdefault("seed evaluation itself", float(event["duration_s"]))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="calls per row")
    parser.add_argument("--no-broker", action="store_true", help="only the docker pairs (no tenant users needed)")
    parser.add_argument("--pools", type=lambda text: [int(x) for x in text.split(",")], default=[0, 2],
                        help="the pool_size values to measure, comma-separated (default 0,2)")
    parser.add_argument("--no-fallback", action="store_true",
                        help="skip the one-step-per-call rows (only the persistent helper against its baseline)")
    parser.add_argument("--first-seed", action="store_true",
                        help="also the time from `avo run` to the sorting example's scored seed, per backend")
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
            measured = rows(args.n, root, broker, code, args.pools, not args.no_fallback)
        finally:
            if broker is not None:
                broker.remove()
        seeds = {backend: first_seed(backend, root) for backend in ("docker", "slurm")} if args.first_seed else {}
    baselines = {label: statistics.median(samples) for label, name, samples in measured if label == name}
    print(f"\np50/p95 of {args.n} calls of `true` per row, one run, on this node\n")
    print("| path | p50 ms | p95 ms | p50 vs its local backend |")
    print("|---|---|---|---|")
    for label, name, samples in measured:
        ratio = statistics.median(samples) / baselines[label]
        print(f"| {name} | {statistics.median(samples) * 1e3:.1f} | {percentile(samples, 95) * 1e3:.1f} | {ratio:.2f}x |")
    if seeds:
        print("\nfrom `avo run` to the first scored seed (sorting example, empty queue)\n")
        print("| backend | allocation running s | seed scored s | seed evaluation itself s | vs docker |")
        print("|---|---|---|---|---|")
        for backend, seen in seeds.items():
            allocation = f"{seen['allocation running']:.2f}" if "allocation running" in seen else "-"
            print(f"| {backend} | {allocation} | {seen['seed scored']:.2f} | {seen['seed evaluation itself']:.2f} | "
                  f"{seen['seed scored'] / seeds['docker']['seed scored']:.2f}x |")


if __name__ == "__main__":
    main()
