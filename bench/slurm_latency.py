"""What the slurm backend costs: per-call latency, and the time to a run's first scored seed.

Not a timed test: run it by hand on a quiet machine with the cluster of
scripts/setup-slurm.sh up (`python bench/slurm_latency.py`). Prints two tables,
each measured in the same run against the local docker backend as baseline:

1. p50/p95 of a trivial call (`true`) through a held allocation (one job step per
   call: srun, avo's helper, the node's dockerd) and through the docker backend.
2. From `avo run` (a fresh process) to the seed's scored evaluation in the run log,
   with the queue empty, for the sorting example under each backend; for slurm, the
   part spent before the allocation ran is shown too.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox import Sandbox, SandboxPolicy  # noqa: E402

EXAMPLE = REPO / "examples" / "sorting_optimization"
FAST = {"heartbeat_s": 1.0, "stale_after_s": 6.0, "poll_s": 0.25}


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def call_latency(n: int, root: Path) -> dict[str, list[float]]:
    """Seconds per `true` call, after one warm-up call, for each backend in one run."""
    policies = {"docker backend (local)": SandboxPolicy(memory="256m"),
                "slurm backend (held allocation)": SandboxPolicy(backend="slurm", memory="256m",
                                                                 slurm={**FAST, "state_dir": root / "state"})}
    samples: dict[str, list[float]] = {}
    for name, policy in policies.items():
        with Sandbox(policy, root / name.split()[0], purpose="bench") as sandbox:
            sandbox.exec(["true"])
            times = []
            for _ in range(n):
                started = time.perf_counter()
                assert sandbox.exec(["true"]).ok
                times.append(time.perf_counter() - started)
            samples[name] = times
    return samples


def first_seed(backend: str, root: Path) -> dict[str, float]:
    """Seconds from starting `avo run` to the run log's allocation event and scored seed."""
    folder = root / f"seed-{backend}"
    folder.mkdir()
    (folder / "replay.yaml").write_text("turns: []\n")  # the run ends right after the seed
    sandbox: dict = {"backend": backend, "memory": "1g", "timeout_s": 120}
    if backend == "slurm":
        sandbox["slurm"] = {**FAST, "state_dir": str(root / "state")}
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
    parser.add_argument("-n", type=int, default=30, help="calls per backend")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avo-bench-slurm-") as tmp:
        root = Path(tmp)
        samples = call_latency(args.n, root)
        base = statistics.median(samples["docker backend (local)"])
        print(f"\nper-call latency of `true`, n={args.n} each, one run\n")
        print("| path | p50 ms | p95 ms | p50 vs docker |")
        print("|---|---|---|---|")
        for name, times in samples.items():
            print(f"| {name} | {percentile(times, 50) * 1e3:.1f} | {percentile(times, 95) * 1e3:.1f} | "
                  f"{statistics.median(times) / base:.2f}x |")
        seeds = {backend: first_seed(backend, root) for backend in ("docker", "slurm")}
        print("\nfrom `avo run` to the first scored seed (sorting example, empty queue)\n")
        print("| backend | allocation running s | seed scored s | seed evaluation itself s | vs docker |")
        print("|---|---|---|---|---|")
        for backend, seen in seeds.items():
            allocation = f"{seen['allocation running']:.2f}" if "allocation running" in seen else "-"
            print(f"| {backend} | {allocation} | {seen['seed scored']:.2f} | {seen['seed evaluation itself']:.2f} | "
                  f"{seen['seed scored'] / seeds['docker']['seed scored']:.2f}x |")


if __name__ == "__main__":
    main()
