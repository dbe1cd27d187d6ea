"""What timing a candidate in its own process costs (orchestrator.scoring.candidate_process).

``python bench/candidate_process.py [-n 200]`` prints one table: the time of a call measured
in the same process (the baseline) and through CandidateProcess (the scorer's clock, the
candidate in another interpreter), for a no-op, a 1 ms sleep and a call returning a 1 MB
tensor, p50 and p95, with the ratio to the baseline; then the worker's start-up time
(a fresh ``python -I`` importing the candidate, with and without torch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.scoring.candidate_process import CandidateProcess  # noqa: E402

PROGRAM = '''
import time
import torch

BLOCK = torch.ones(256, 1024)

def noop():
    return None

def nap():
    time.sleep(0.001)

def tensor():
    return BLOCK.clone()
'''


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(0.95 * (len(ordered) - 1))] * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="calls per row")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="avo-bench-candidate-"))
    program = folder / "program.py"
    program.write_text(PROGRAM)
    namespace: dict[str, object] = {}
    exec(compile(PROGRAM, str(program), "exec"), namespace)

    rows = []
    with CandidateProcess(program, timeout_s=120) as candidate:
        for name in ("noop", "nap", "tensor"):
            local = []
            for _ in range(args.n):
                started = time.perf_counter()
                namespace[name]()  # type: ignore[operator]
                local.append(time.perf_counter() - started)
            isolated = [candidate.call(name).seconds for _ in range(args.n)]
            rows.append((name, percentiles(local), percentiles(isolated)))

    startup = folder / "startup.py"
    startup.write_text("def noop():\n    return None\n")
    starts = {}
    for label, path in (("without torch", startup), ("importing torch", program)):
        started = time.perf_counter()
        with CandidateProcess(path, timeout_s=300):
            starts[label] = time.perf_counter() - started

    print(f"| call ({args.n} each) | in process p50 / p95 ms | CandidateProcess p50 / p95 ms | ratio (p50) |")
    print("|---|---|---|---|")
    labels = {"noop": "no-op", "nap": "sleep 1 ms", "tensor": "returns a 1 MB tensor"}
    for name, (local50, local95), (iso50, iso95) in rows:
        ratio = f"{iso50 / local50:.1f}x" if local50 > 0.0005 else f"+{iso50 - local50:.3f} ms"
        print(f"| {labels[name]} | {local50:.4f} / {local95:.4f} | {iso50:.3f} / {iso95:.3f} | {ratio} |")
    print()
    print("| worker start-up | seconds |")
    print("|---|---|")
    for label, seconds in starts.items():
        print(f"| {label} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
