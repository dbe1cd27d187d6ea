"""Benchmark (not a timed test): the attention scorer's TFLOPS for the seed and for PyTorch's fused kernel.

``python bench/attention_tflops.py [--repeat N]`` scores two known kernels with the
example's own scorer (examples/attention_kernel/scorer.py), on whatever device is
present (the ``gpu`` configuration set under CUDA, the ``cpu`` set otherwise), and
prints them side by side per configuration. It writes
``bench/results/attention_tflops.json`` and, with matplotlib (the ``dev`` extra),
``bench/results/attention_tflops.png``.

Both kernels are this repository's own code, so they run on the host; candidates
an agent writes are only ever scored in the sandbox.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import statistics
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "attention_kernel"
RESULTS = REPO / "bench" / "results"

SDPA = '''
import torch.nn.functional as F


def attention(q, k, v, causal):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
'''


def load_scorer() -> ModuleType:
    """The example's scorer module, imported from its file as the sandbox harness does."""
    sys.path.insert(0, str(REPO))  # orchestrator.scoring.score, from a checkout
    spec = importlib.util.spec_from_file_location("attention_scorer", EXAMPLE / "scorer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(scorer: object, source: str, repeat: int) -> dict[str, float]:
    """Per-configuration TFLOPS: the best of ``repeat`` evaluations, each on fresh inputs."""
    best: dict[str, float] = {}
    for round_ in range(repeat):
        random.seed(round_)
        score = scorer.evaluate(source, "solution.py")  # type: ignore[attr-defined]
        if not score.passes_correctness:
            raise SystemExit(f"a reference kernel failed the scorer: {score.correctness_message}")
        for name, value in score.values.items():
            best[name] = max(best.get(name, 0.0), value)
    return best


def table(names: list[str], seed: dict[str, float], sdpa: dict[str, float]) -> str:
    rows = [f"{'configuration':<34} {'seed TFLOPS':>12} {'SDPA TFLOPS':>12} {'SDPA/seed':>10}"]
    for name in names:
        rows.append(f"{name:<34} {seed[name]:>12.4g} {sdpa[name]:>12.4g} {sdpa[name] / seed[name]:>9.2f}x")
    geo = [statistics.geometric_mean([values[name] for name in names]) for values in (seed, sdpa)]
    rows.append(f"{'geometric mean':<34} {geo[0]:>12.4g} {geo[1]:>12.4g} {geo[1] / geo[0]:>9.2f}x")
    return "\n".join(rows)


def plot(names: list[str], seed: dict[str, float], sdpa: dict[str, float], device: str, path: Path) -> bool:
    """A grouped bar chart; False when matplotlib is not installed (it is in the `dev` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    positions = range(len(names))
    figure, axes = plt.subplots(figsize=(max(8.0, 0.55 * len(names) + 3), 5))
    axes.bar([p - 0.2 for p in positions], [seed[n] for n in names], width=0.4, label="seed (materialized scores)")
    axes.bar([p + 0.2 for p in positions], [sdpa[n] for n in names], width=0.4, label="scaled_dot_product_attention")
    axes.set_xticks(list(positions), names, rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("TFLOPS (scorer's measurement)")
    axes.set_title(f"Attention forward, {device}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="evaluations per kernel; the best per configuration is kept")
    args = parser.parse_args(argv)

    module = load_scorer()
    scorer = module.Scorer()
    device = scorer.suite.device
    if device == "cuda":
        import torch

        device = f"cuda ({torch.cuda.get_device_name()})"
    else:
        device = f"cpu ({platform.processor() or platform.machine()}, {scorer.suite.dtype})"
    names = scorer.get_configurations()
    seed = measure(scorer, (EXAMPLE / "seed.py").read_text(), args.repeat)
    sdpa = measure(scorer, SDPA, args.repeat)

    print(f"device: {device}")
    print(table(names, seed, sdpa))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "attention_tflops.json").write_text(
        json.dumps({"device": device, "seed": seed, "sdpa": sdpa}, indent=2) + "\n", encoding="utf-8"
    )
    image = RESULTS / "attention_tflops.png"
    if plot(names, seed, sdpa, device, image):
        print(f"plot: {image.relative_to(REPO)}")
    else:
        print("plot skipped: matplotlib is not installed (pip install matplotlib)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
