"""Benchmark (not a timed test): the attention scorer's TFLOPS measured directly and through ``avo eval``.

``python bench/attention_through_avo.py [--rounds N] [--backend docker|local] [--image IMG] [--gpus SPEC]``
scores two known kernels, the example's seed and PyTorch's fused
``scaled_dot_product_attention``, twice: with the scorer in this process (as
bench/attention_tflops.py does), and with ``avo eval`` in fresh sandbox
containers (or host subprocesses with ``--backend local``), the way CI does.
Both sides keep the best of N per configuration, so their ratio shows what going
through avo costs or changes; it should be close to 1. One table, one row per
configuration. bench/gpu_check.sh runs it on a GPU host.

Both kernels are this repository's own code, so running them on the host is fine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from attention_tflops import EXAMPLE, REPO, SDPA, load_scorer, measure


def through_avo(source: str, name: str, folder: Path, config: Path, rounds: int) -> dict[str, float]:
    """Best value per configuration over ``rounds`` rounds of ``avo eval``."""
    candidate = folder / f"{name}.py"
    candidate.write_text(source, encoding="utf-8")
    result = folder / f"{name}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "orchestrator", "eval", str(config), "--file", str(candidate),
                           "--rounds", str(rounds), "--json", str(result)], env=env, text=True,
                          capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"avo eval of {name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    measured = json.loads(result.read_text(encoding="utf-8"))["candidate"]["configurations"]
    return {config_name: stats["max"] for config_name, stats in measured.items()}


def write_config(folder: Path, args: argparse.Namespace) -> Path:
    """The example's config with the sandbox this host offers (scorer and seed from the example)."""
    example = yaml.safe_load((EXAMPLE / "config.yaml").read_text(encoding="utf-8"))
    sandbox = {**example["sandbox"], "backend": args.backend, "image": args.image, "gpus": args.gpus,
               "timeout_s": 3600}
    if args.gpus != "none":
        sandbox.update(memory="64g", shm_size="8g")
    config = {**example, "workspace_dir": str(folder / "workspace"), "seed_file": str(EXAMPLE / "seed.py"),
              "scoring_module": str(EXAMPLE / "scorer.py"), "knowledge_base_dir": None, "sandbox": sandbox}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def table(names: list[str], columns: dict[str, dict[str, float]]) -> str:
    head = ["configuration", "seed direct", "seed avo", "avo/direct", "SDPA direct", "SDPA avo", "avo/direct"]
    widths = [max(34, max(map(len, names)))] + [11] * 6
    rows = [" ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(head, widths)))]

    def row(label: str, values: list[float]) -> str:
        cells = [f"{values[0]:.4g}", f"{values[1]:.4g}", f"{values[1] / values[0]:.3f}x",
                 f"{values[2]:.4g}", f"{values[3]:.4g}", f"{values[3] / values[2]:.3f}x"]
        return f"{label:<{widths[0]}} " + " ".join(f"{c:>11}" for c in cells)

    order = ["seed direct", "seed avo", "sdpa direct", "sdpa avo"]
    for name in names:
        rows.append(row(name, [columns[key][name] for key in order]))
    rows.append(row("geometric mean", [statistics.geometric_mean(columns[key].values()) for key in order]))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="evaluations per kernel and side; the best counts")
    parser.add_argument("--backend", choices=["docker", "local"], default="docker")
    parser.add_argument("--image", default="avo-sandbox:gpu")
    parser.add_argument("--gpus", default="0", help="sandbox.gpus for the avo side (none on a CPU host)")
    args = parser.parse_args(argv)

    scorer = load_scorer().Scorer()
    names = scorer.get_configurations()
    print(f"device: {scorer.suite.device}; avo side: backend {args.backend}"
          + (f", image {args.image}, gpus {args.gpus}" if args.backend == "docker" else " (no isolation)"),
          flush=True)
    columns = {"seed direct": measure(scorer, (EXAMPLE / "seed.py").read_text(), args.rounds),
               "sdpa direct": measure(scorer, SDPA, args.rounds)}
    del scorer  # free the device before avo's evaluations
    with tempfile.TemporaryDirectory(prefix="avo-gpu-check-") as temp:
        folder = Path(temp)
        config = write_config(folder, args)
        columns["seed avo"] = through_avo((EXAMPLE / "seed.py").read_text(), "seed", folder, config, args.rounds)
        columns["sdpa avo"] = through_avo(SDPA, "sdpa", folder, config, args.rounds)
    print(table(names, columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
