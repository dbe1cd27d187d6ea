"""Latency of a trivial disposable call (`true`) through each way of running it.

Not a timed test: run it by hand (`python bench/sandbox_overhead.py`) on a
quiet machine. Prints p50/p95 per path, the ratio to a bare subprocess, and
the sandbox's targets: warm-pool p50 within 1.5x of a `docker exec` into a
running container, and at least 4x faster than a cold `docker run`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sandbox import Sandbox, SandboxPolicy

#: Pause between warm calls so the pool has refilled (refill delay + a container start).
POOL_REFILL_S = 0.8


def measure(call: Callable[[], object], n: int, pause_s: float = 0.0) -> list[float]:
    """Wall-clock seconds of ``n`` calls, after one warm-up call."""
    call()
    samples = []
    for _ in range(n):
        time.sleep(pause_s)
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def run_paths(image: str, n: int, workspace: Path, runtime: str | None = None) -> dict[str, list[float]]:
    """Every path's samples; ``runtime`` (e.g. runsc) applies to (b) to (e) alike, so the
    ratios compare like with like and two runs compare the runtimes."""
    docker_run = ["docker", "run", "--network", "none", *(["--runtime", runtime] if runtime else [])]
    results: dict[str, list[float]] = {}
    results["(a) bare subprocess"] = measure(lambda: subprocess.run(["true"], check=True), n)
    results["(b) docker run --rm"] = measure(lambda: subprocess.run([*docker_run, "--rm", image, "true"], check=True), n)
    running = subprocess.run([*docker_run, "-d", "--rm", image, "sleep", "infinity"],
                             check=True, capture_output=True, text=True).stdout.strip()
    try:
        results["(c) docker exec"] = measure(
            lambda: subprocess.run(["docker", "exec", running, "true"], check=True), n)
    finally:
        subprocess.run(["docker", "rm", "-f", running], check=True, capture_output=True)
    policy = SandboxPolicy(image=image, memory="256m", runtime=runtime)
    with Sandbox(policy, workspace, purpose="bench") as cold:
        results["(d) sandbox, cold"] = measure(lambda: cold.exec(["true"]), n)
    with Sandbox(policy.model_copy(update={"pool_size": 2}), workspace, purpose="bench") as warm:
        time.sleep(POOL_REFILL_S * 2)
        results["(e) sandbox, warm pool"] = measure(lambda: warm.exec(["true"]), n, pause_s=POOL_REFILL_S)
    return results


def report(results: dict[str, list[float]]) -> str:
    base = statistics.median(results["(a) bare subprocess"])
    lines = [f"{'path':<26}{'p50 ms':>9}{'p95 ms':>9}{'p50 / (a)':>11}", "-" * 55]
    for name, samples in results.items():
        p50 = statistics.median(samples)
        lines.append(f"{name:<26}{p50 * 1e3:>9.1f}{percentile(samples, 95) * 1e3:>9.1f}{p50 / base:>10.1f}x")
    warm = statistics.median(results["(e) sandbox, warm pool"])
    exec_ = statistics.median(results["(c) docker exec"])
    run = statistics.median(results["(b) docker run --rm"])
    lines += ["",
              f"target warm p50 <= 1.5x docker exec: {warm / exec_:.2f}x -> {'PASS' if warm <= 1.5 * exec_ else 'FAIL'}",
              f"target warm >= 4x faster than docker run: {run / warm:.1f}x -> {'PASS' if run >= 4 * warm else 'FAIL'}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default="avo-sandbox:cpu")
    parser.add_argument("-n", type=int, default=20, help="calls per path")
    parser.add_argument("--runtime", default=None, help="container runtime, e.g. runsc (default: the engine's, runc)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avo-bench-") as workspace:
        print(report(run_paths(args.image, args.n, Path(workspace), args.runtime)))


if __name__ == "__main__":
    main()
