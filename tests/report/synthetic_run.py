"""A synthetic run on disk: a real git lineage (through the lineage store) and a run log written
event by event in the shapes the runner, the agent, the evaluator and the supervisor emit,
plus ``expected.json`` (the rejection category of each failed step, for the tests).

Used by the report's unit tests (small runs with known numbers) and by
``bench/report_build.py`` (the 10,000-attempt, 200-version run). Nothing is scored: the
scorer file exists only because a config must name one.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import EvolutionConfig
from orchestrator.scoring.score import Score
from orchestrator.core.types import Solution
from orchestrator.persistence.git_backend import GitLineageStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CONFIGURATIONS = ["n100_random", "n1000_random", "n1000_sorted", "n1000_reversed", "n2000_random", "n4000_dups"]
#: (category the report should give it, rejection reason, submitted, aggregate of the re-score (None: 0))
REJECTIONS = [
    ("correctness", "fails correctness: edge case [{a}, {b}]: wrong element at index {a}: got {b}, expected {a}", True),
    ("not_better", "aggregate {agg:.6g} does not beat the best {best:.6g} by min_improvement 0.01 "
                   "(needs {need:.6g}; -0.50%)", True),
    ("no_submit", "the model stopped calling tools (gave up)", False),
    ("crashed", "fails correctness: evaluation failed: timed out after 120s (sandbox.timeout_s)", True),
    ("identical", "identical to the best version", True),
    ("not_reproduced", "did not reproduce in a fresh container: fails correctness: edge case [{a}]: modified its "
                       "input list", True),
]


class RunWriter:
    """Appends events with increasing timestamps, as one ``avo run`` session after another would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = START
        self.run_id = ""
        self.lines: list[str] = []
        self.tokens = 0
        self.cost = 0.0
        self.elapsed = 0.0
        self.categories: dict[int, str] = {}  # step -> the rejection category the report should find

    def tick(self, seconds: float) -> datetime:
        self.clock += timedelta(seconds=seconds)
        self.elapsed += seconds
        return self.clock

    def emit(self, kind: str, *, format: int = 2, **data: Any) -> None:  # noqa: A002 - the event field's name
        event = {"ts": self.clock.isoformat(), "run_id": self.run_id, "kind": kind, **data}
        if format >= 2:
            event["format"] = format
        self.lines.append(json.dumps(event))

    def flush(self) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(self.lines) + "\n")
        self.lines.clear()


def source_of(version: int) -> str:
    """A plausible solution file that changes a few lines from one version to the next."""
    body = [f'"""Version {version}: a sort tuned step by step."""', "", "from bisect import insort", ""]
    body += [f"THRESHOLD_{i} = {i * 7 + version % (i + 3)}" for i in range(12)]
    body += ["", "", "def sort(values: list[int]) -> list[int]:", "    result = list(values)"]
    body += [f"    # pass {k}: {'merge' if (version + k) % 3 else 'insert'} runs longer than {k + version % 5}"
             for k in range(version % 7 + 3)]
    body += ["    return sorted(result)", ""]
    return "\n".join(body)


def make_run(root: Path, *, versions: int, attempts: int, sessions: int = 1, killed_session: bool = False,
             supervisor_every: int = 0, cost_per_turn: float = 0.002, budget_usd: float | None = None,
             event_format: int = 2, seed: int = 7) -> EvolutionConfig:
    """A run of ``versions`` versions (v0 included) and ``attempts`` rejected steps under ``root``; returns
    its config. With ``sessions`` > 1 the run is resumed that many times (the first session killed
    without a run_end when ``killed_session``)."""
    rng = random.Random(seed)
    (root / "seed.py").write_text(source_of(0), encoding="utf-8")
    (root / "scorer.py").write_text("# synthetic run: never scored\n", encoding="utf-8")
    config_data = {
        "project_name": "synthetic-sort", "workspace_dir": "workspace", "seed_file": "seed.py",
        "scoring_module": "scorer.py", "max_versions": versions + 10, "max_wall_time_hours": 200.0,
        "min_improvement": 0.01, "llm": {"provider": "openai", "model": "gpt-test", "api_key": "sk-literal-secret",
                "prices": {"gpt-test": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}}},
        "budget": {"max_total_cost_usd": budget_usd} if budget_usd else {},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config_data), encoding="utf-8")
    config = EvolutionConfig.from_yaml(root / "config.yaml")
    config.workspace_dir.mkdir(parents=True, exist_ok=True)
    store = GitLineageStore(config.lineage_dir, config.solution_file)
    log = RunWriter(config.run_log_path)
    steps = (versions - 1) + attempts
    commit_steps = set(sorted(rng.sample(range(1, steps + 1), versions - 1)))
    session_ends = {steps * (n + 1) // sessions for n in range(sessions - 1)}
    values = {name: 1.0 + 0.1 * n for n, name in enumerate(CONFIGURATIONS)}
    best = _aggregate(values)

    def start_session(number: int) -> None:
        log.run_id = f"run-synthetic-{number}"
        log.emit("run_start", format=event_format, project="synthetic-sort", resume=number > 0, step=0,
                 **({"config_digest": config.digest(), "backend": "docker", "image": "avo-sandbox:cpu",
                     "runtime": None, "gpus": {"mode": "none", "count": None, "device_ids": []},
                     "llm": "openai:gpt-test", "min_improvement": 0.01} if event_format >= 2 else {}))

    session = 0
    start_session(session)
    log.tick(3)
    log.emit("evaluation", format=event_format, purpose="seed", aggregate=best, passes=True, duration_s=3.0,
             message="ok", **_sandbox_fields(event_format))
    store.append(Solution(version=0, source=source_of(0), score=Score(values=values, passes_correctness=True),
                          aggregate=best, message="seed", created_at=log.clock))
    log.emit("commit", format=event_format, step=0, version=0, parent=None, aggregate=best, values=values,
             reason="seed", message="seed")
    version = 0
    tokens_at_commit, cost_at_commit = 0, 0.0
    for step in range(1, steps + 1):
        log.tick(rng.uniform(20, 60))
        log.emit("variation_start", format=event_format, step=step, best_version=version, best_aggregate=best,
                 directive=None)
        for turn in range(1, 4):
            log.tick(rng.uniform(2, 8))
            inputs, outputs = rng.randint(2000, 6000), rng.randint(200, 900)
            log.tokens += inputs + outputs
            log.cost += cost_per_turn
            log.emit("agent_turn", format=event_format, step=step, turn=turn, llm="openai:gpt-test", provider="openai",
                     model="gpt-test", input_tokens=inputs, output_tokens=outputs, cost_usd=cost_per_turn, priced=True,
                     latency_s=2.5, stop_reason="tool_use", tool_calls=["run_shell"], text="thinking <b>aloud</b>")
            shell_s = rng.uniform(0.03, 0.4)
            log.emit("agent_tool", format=event_format, step=step, turn=turn, tool="run_shell", args="run_shell(...)",
                     result_chars=120, is_error=False, duration_s=shell_s,
                     **(_sandbox_fields(event_format, timed_out=rng.random() < 0.01) if event_format >= 2 else {}))
        committed = step in commit_steps
        kind = None if committed else REJECTIONS[rng.randrange(len(REJECTIONS))]
        claimed = best * (1.05 if committed else 0.995) * rng.uniform(0.98, 1.02)
        evaluated = kind is None or kind[0] in ("not_better", "not_reproduced")
        if evaluated:
            log.emit("evaluation", format=event_format, purpose="agent-evaluate", aggregate=claimed, passes=True,
                     duration_s=rng.uniform(2, 4), message="ok", **_sandbox_fields(event_format))
        submitted = kind is None or kind[2]
        log.emit("budget", tokens=log.tokens, cost_usd=round(log.cost, 6), elapsed_s=round(log.elapsed, 3),
                 tokens_left=None, cost_left_usd=None, format=event_format)
        log.emit("variation_end", format=event_format, step=step, submitted=submitted, tokens=0, cost_usd=0.0,
                 model_turns=3, tool_calls=3, rationale=f"try {step}: <script>alert({step})</script>",
                 failure_reason="" if submitted else kind[1])
        claim = {"claimed_aggregate": claimed if evaluated else None,
                 "claimed_passes": True if evaluated else None} if event_format >= 2 else (
            {"claimed_aggregate": claimed if evaluated else None} if not committed else {})
        if committed:
            values = {name: value * rng.uniform(1.02, 1.12) for name, value in values.items()}
            aggregate = _aggregate(values)
            log.tick(3)
            log.emit("evaluation", format=event_format, purpose="rescore", aggregate=aggregate, passes=True,
                     duration_s=3.0, message="ok", **_sandbox_fields(event_format))
            version += 1
            store.append(Solution(
                version=version, source=source_of(version), score=Score(values=values, passes_correctness=True),
                aggregate=aggregate, parent=version - 1, message=f"step {step}: faster runs\n\n</script><img src=x "
                f"onerror=alert({version})>", created_at=log.clock, tokens_used=log.tokens - tokens_at_commit,
                cost_usd=round(log.cost - cost_at_commit, 6)))
            tokens_at_commit, cost_at_commit = log.tokens, log.cost
            log.emit("commit", format=event_format, step=step, version=version, parent=version - 1,
                     aggregate=aggregate, values=values, reason="aggregate up", message="faster runs", **claim)
            best = aggregate
        else:
            category, template, _ = kind
            log.categories[step] = category
            rescored = category in ("correctness", "not_better", "crashed", "not_reproduced")
            aggregate = best * 0.995 if category == "not_better" else 0.0
            if rescored:
                log.tick(3)
                log.emit("evaluation", format=event_format, purpose="rescore", aggregate=aggregate,
                         passes=category == "not_better", duration_s=120.0 if category == "crashed" else 3.0,
                         message="x", **_sandbox_fields(event_format, timed_out=category == "crashed"))
            reason = template.format(a=rng.randint(0, 9), b=rng.randint(10, 99), agg=aggregate, best=best,
                                     need=best * 1.01)
            extra = ({"values": {n: v * 0.99 for n, v in values.items()} if category == "not_better" else {},
                      "passes": category == "not_better" if rescored else None} if event_format >= 2 else {})
            log.emit("rejection", format=event_format, step=step, reason=reason, aggregate=aggregate,
                     source_hash=f"{step:016x}", **claim, **extra)
        if supervisor_every and step % supervisor_every == 0:
            log.emit("supervisor", format=event_format, step=step, trigger="plateau: no improvement in 20 steps",
                     text="TRIED:\n- <i>merging</i>\nNEXT:\n- radix sort", tried=["merging"], tokens_used=900,
                     cost_usd=0.001, llm="openai:gpt-test", replay=False)
            log.tokens += 900
            log.cost += 0.001
        if step in session_ends:
            if not (killed_session and session == 0):
                log.emit("run_end", format=event_format, reason="interrupted (Ctrl-C)")
            session += 1
            log.tick(3600)
            log.elapsed -= 3600  # the hour between sessions is not run time
            start_session(session)
        if len(log.lines) > 5000:
            log.flush()
    log.emit("run_end", format=event_format, reason=f"max_versions reached (v{version})")
    log.flush()
    (root / "expected.json").write_text(json.dumps({"categories": log.categories}), encoding="utf-8")
    return config


def _aggregate(values: dict[str, float]) -> float:
    product = 1.0
    for value in values.values():
        product *= value
    return product ** (1 / len(values))


def _sandbox_fields(event_format: int, *, timed_out: bool = False) -> dict[str, Any]:
    if event_format < 2:
        return {}
    return {"timed_out": timed_out, "oom_killed": False, "exit_code": 124 if timed_out else 0}
