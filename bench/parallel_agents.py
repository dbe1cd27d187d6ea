"""Steps per hour with N agents on one lineage (``agents: N``) vs the classic loop.

Scripted model (``--think-s`` per step, two charged calls) and a scorer of fixed latency
(``--latency-s`` per evaluation, one resource per agent, as with one GPU each); git lineage,
run log, commit path and budget are the real ones. Each configuration runs for
``--seconds`` of wall time (``max_wall_time_hours``); a step counts when its variation ended.
A classic step re-scores the candidate once; a step with N > 1 re-scores the candidate and the
current best (the paired measurement), so it costs one more evaluation.

Target: N agents make at least 0.8 x N times the classic loop's steps per hour, up to the
number of free scoring resources. Run: ``python bench/parallel_agents.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "parallel")]

from orchestrator.config import EvolutionConfig  # noqa: E402
from orchestrator.core.evolution import EvolutionRunner  # noqa: E402
from orchestrator.core.parallel_agents import ParallelEvolutionRunner  # noqa: E402
from orchestrator.core.run_log import read_events  # noqa: E402
from scripted_agents import LatencyEvaluator, ScriptedModelOperator, program, scripted_factory  # noqa: E402


class _Unmetered:
    """The classic loop charges a seam's reported spending itself (settle); nothing to do live."""

    def check(self) -> None:
        return None

    def charge(self, tokens: int, cost_usd: float) -> None:
        return None


def _script(agent: int, steps: int = 100_000) -> list:
    """Mostly small gains, every third step a regression (rejected), as a real search goes."""
    return [program(1.0 + 0.001 * k if k % 3 else 0.5, f"agent {agent} step {k}") for k in range(1, steps)]


def _config(folder: Path, agents: int, seconds: float) -> EvolutionConfig:
    (folder / "seed.py").write_text(program(1.0, "seed"))
    (folder / "scorer.py").write_text("# fixed-latency scorer\n")
    return EvolutionConfig.model_validate({
        "seed_file": folder / "seed.py", "scoring_module": folder / "scorer.py", "workspace_dir": folder / "ws",
        "agents": agents, "min_improvement": 0.0, "max_versions": 1_000_000, "failed_step_backoff_s": 0.0,
        "max_steps_without_candidate": None, "max_wall_time_hours": seconds / 3600})


def measure(agents: int | None, seconds: float, think_s: float, latency_s: float) -> tuple[int, float]:
    """(steps finished, elapsed s); ``agents=None`` is the classic loop."""
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), agents or 1, seconds)
        if agents is None:
            runner: EvolutionRunner = EvolutionRunner(
                config, operator=ScriptedModelOperator(_script(0), _Unmetered(), think_s),
                evaluator=LatencyEvaluator(latency_s))
        else:
            runner = ParallelEvolutionRunner(config, agent_factory=scripted_factory(
                {i: _script(i) for i in range(agents)}, latency_s=latency_s, think_s=think_s))
        results = runner.run()
        return sum(1 for _ in read_events(config.run_log_path, "variation_end")), results.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--think-s", type=float, default=0.4, help="the scripted model's time per step")
    parser.add_argument("--latency-s", type=float, default=0.05, help="the scorer's time per evaluation")
    args = parser.parse_args()
    rows = [("classic loop (agents: 1)", None), *((f"agents: {n}", n) for n in (1, 2, 4))]
    baseline = None
    print(f"think {args.think_s:g} s/step, scorer {args.latency_s:g} s/evaluation, {args.seconds:g} s per row")
    print(f"{'configuration':<26}{'steps':>7}{'steps/hour':>12}{'x classic':>11}{'target':>9}")
    for label, agents in rows:
        steps, elapsed = measure(agents, args.seconds, args.think_s, args.latency_s)
        per_hour = steps / elapsed * 3600
        baseline = baseline or per_hour
        target = f">={0.8 * agents:.1f}" if agents else ""
        print(f"{label:<26}{steps:>7}{per_hour:>12.0f}{per_hour / baseline:>11.2f}{target:>9}")


if __name__ == "__main__":
    main()
