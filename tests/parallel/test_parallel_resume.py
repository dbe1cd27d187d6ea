"""SIGKILL at a commit boundary while four agents are active, then ``--resume``: no version is
lost or doubled, step ids never repeat, and spending carries over exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.core.parallel_agents import ParallelEvolutionRunner
from orchestrator.core.run_log import read_events
from orchestrator.persistence.store import open_store
from scripted_agents import program, scripted_factory, true_speed

HERE = Path(__file__).parent


def charged(events: list[dict]) -> int:
    """Tokens charged, summed from each (run, agent)'s last running total."""
    last: dict[tuple[str, int], int] = {}
    for event in events:
        if event["kind"] == "budget" and "agent" in event:
            last[(event["run_id"], event["agent"])] = event["agent_tokens"]
    return sum(last.values())


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", [2, 4])  # the seed is the 1st version persisted
def test_sigkill_at_a_commit_boundary_then_resume(make_config, when, at):
    config = make_config()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, str(HERE / "kill_driver.py"), config.model_dump_json(exclude_unset=True), when, str(at)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    before = open_store(config).load()
    assert len(before.solutions) == (at if when == "after" else at - 1)
    first_run = list(read_events(config.run_log_path))

    scripts = {i: [program(20.0 + i + 4 * k, f"resumed {i}-{k}") for k in range(2)] for i in range(4)}
    results = ParallelEvolutionRunner(config, resume=True, agent_factory=scripted_factory(
        scripts, latency_s=0.01, think_s=0.01)).run()
    assert results.stop_reason == "replay finished"

    after = open_store(config).load().solutions
    assert [s.version for s in after] == list(range(len(after)))
    assert [s.source for s in after[:len(before.solutions)]] == [s.source for s in before.solutions]  # nothing lost
    assert len({s.source for s in after}) == len(after)  # nothing doubled
    for older, newer in zip(after, after[1:]):
        assert true_speed(newer.source) >= true_speed(older.source) * (1 + config.min_improvement)
    assert true_speed(after[-1].source) >= 24.0  # the resumed agents started from the best and went on

    events = list(read_events(config.run_log_path))
    steps = [e["step"] for e in events if e["kind"] == "variation_start"]
    assert len(steps) == len(set(steps))  # step ids never repeat across the kill
    resumed = [e for e in events[len(first_run):] if e["kind"] == "variation_start"]
    assert min(e["step"] for e in resumed) > max((e["step"] for e in first_run if e["kind"] == "variation_start"),
                                                  default=0)
    assert results.tokens == charged(events)  # what the killed run charged, plus the resumed run's
