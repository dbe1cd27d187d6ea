"""Resuming a week-long run: the run log is streamed, so memory does not grow with its length.

A lineage is started for real, then its run log is padded with synthetic small events (the
kinds a step writes, rejections and budget totals included), and the run is resumed in a
fresh process that reports its peak RSS at the first new step: 100k events may cost only a
few MB more than 10k. Holding the log as a list costs ~1 kB an event (~90 MB here).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from fakes import FakeEvaluator, ScriptedOperator, program
from orchestrator.config import EvolutionConfig
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.core.interfaces import VariationContext, VariationResult
from orchestrator.core.run_log import read_events

HERE = Path(__file__).resolve().parent


def pad_log(path: Path, events: int) -> None:
    """Append ``events`` small events shaped like a step's, ten to a step, from step 2 on."""
    with path.open("a", encoding="utf-8") as log:
        for index in range(events):
            step = 2 + index // 10
            kind = ("variation_start", "agent_turn", "agent_tool", "agent_turn", "agent_tool", "evaluation",
                    "variation_end", "rejection", "budget", "agent_turn")[index % 10]
            event = {"ts": "2026-01-01T00:00:00+00:00", "run_id": "run-padding", "kind": kind, "format": 2,
                     "step": step, "submitted": True, "reason": f"slower than v1 at step {step}",
                     "aggregate": 1.5, "source_hash": f"{index:016x}", "tokens": index, "cost_usd": 0.0,
                     "elapsed_s": float(index)}
            log.write(json.dumps(event) + "\n")


def resumed_peak_rss_kb(config: EvolutionConfig) -> tuple[int, int]:
    """Resume in a fresh process; its peak RSS (kB) at the first new step, and that step's number."""
    fields = config.model_dump(mode="json", include={"seed_file", "scoring_module", "workspace_dir", "min_improvement",
                                                        "failed_step_backoff_s"})
    child = subprocess.run([sys.executable, __file__, json.dumps(fields)], capture_output=True, text=True,
                           timeout=120, cwd=HERE, env={"PYTHONPATH": f"{HERE}:{HERE.parents[1]}", "PATH": "/usr/bin:/bin"})
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    return report["peak_kb"], report["step"]


def test_resume_memory_does_not_grow_with_the_run_log(make_config) -> None:
    peaks = {}
    for events in (10_000, 100_000):
        config = make_config(workspace_dir=make_config().workspace_dir.parent / f"workspace-{events}")
        EvolutionRunner(config, operator=ScriptedOperator([program(2.0)]), evaluator=FakeEvaluator()).run()
        pad_log(config.run_log_path, events)
        peaks[events], step = resumed_peak_rss_kb(config)
        assert step == 2 + (events - 1) // 10 + 1  # the steps were read back: numbering goes on
    assert peaks[100_000] - peaks[10_000] < 4 * 1024, peaks


def test_reading_some_kinds_skips_the_rest_without_being_fooled(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join([json.dumps({"kind": "commit", "step": 1}),
                              json.dumps({"kind": "budget", "tokens": 5}, separators=(",", ":")),
                              json.dumps({"kind": "agent_tool", "values": {"kind": "commit"}}),
                              '{"kind": "commit", "step": 2']))  # a line torn by a kill
    assert list(read_events(log, "commit")) == [{"kind": "commit", "step": 1}]
    assert list(read_events(log, "budget", "commit")) == [{"kind": "commit", "step": 1}, {"kind": "budget", "tokens": 5}]
    assert len(list(read_events(log))) == 3


class _MeasureAtFirstStep:
    """The resumed run's operator: report peak RSS and the step number, then end the run."""

    def vary(self, context: VariationContext) -> VariationResult:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"peak_kb": peak, "step": context.step}), flush=True)
        return VariationResult(submitted=False, failure_reason="measured")


if __name__ == "__main__":  # the fresh process that resumes
    resumed = EvolutionConfig.model_validate({**json.loads(sys.argv[1]), "max_steps_without_candidate": 1})
    EvolutionRunner(resumed, operator=_MeasureAtFirstStep(), evaluator=FakeEvaluator(), resume=True).run()
