"""The continuous single-lineage loop: score the seed, vary, re-score, commit or restore.

``EvolutionRunner`` is handed its variation operator, evaluator and supervisor
(tests hand it scripted ones); when they are not given it builds the real ones,
importing the sandbox and the agent lazily so that ``core`` depends on neither.

Crash safety: each version is persisted atomically before anything else
changes, the lineage is rebuilt from storage on resume, budgets and step numbers
are read back from the append-only run log, and the work tree's solution file is
put back to the best version whenever a step does not commit.

Spending: every model call is charged to the budget as it returns (a
:class:`~orchestrator.core.budget.BudgetMeter` the agent's client reports to), and the
supervisor's calls are checked against it like the agent's. A model that gives up is
braked by :class:`~orchestrator.core.stall.StallWatch`. SIGTERM (and SIGINT away from a
terminal) aborts the step in flight and records it as ``step_aborted``; Ctrl-C at a terminal
stops after the step (:mod:`orchestrator.core.interruption`); the run's containers are
removed either way.

Resume reads the run log as a stream, one pass per thing it restores, keeping only bounded
state: a week-long run's log holds hundreds of thousands of events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orchestrator.config import EvolutionConfig
from orchestrator.core.budget import Budget, BudgetMeter, BudgetUsage
from orchestrator.core.interfaces import (Evaluator, NoSupervisor, StepOutcome, Supervisor, UsageMeter,
                                          VariationContext, VariationOperator, VariationResult)
from orchestrator.core.interruption import Interruption, RunAborted
from orchestrator.core.population import Population, Verdict
from orchestrator.core.run_log import RunLog, read_events
from orchestrator.scoring.score import Score
from orchestrator.core.solution_layout import Candidate, read_candidate
from orchestrator.core.stall import StallWatch
from orchestrator.core.types import Attempt, Lineage
from orchestrator.errors import BudgetExhausted, ConfigError, LineageError, ReplayExhausted, WorkspaceEscape
from orchestrator.persistence.store import LineageStore, open_store
from orchestrator.persistence.workspace_lock import WorkspaceLock

__all__ = ["EvolutionRunner", "RunResults"]


class RunResults(BaseModel):
    """What a run achieved and why it stopped (``print(runner.get_results())``)."""

    run_id: str
    best_version: int | None
    best_aggregate: float
    seed_aggregate: float
    improvement_pct: float
    versions: int
    committed_this_run: int
    steps: int
    failures: int
    tokens: int
    cost_usd: float
    elapsed_s: float
    stop_reason: str


def _new_run_id() -> str:
    return f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def _default_evaluator(config: EvolutionConfig, run_id: str, run_log: RunLog, split: str = "public") -> Evaluator:
    from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator

    return SandboxEvaluator(config, run_id, run_log, split="hidden" if split == "hidden" else "public")


def _default_agent(config: EvolutionConfig, run_id: str, run_log: RunLog,
                   meter: UsageMeter) -> tuple[VariationOperator, Supervisor, Callable[[], None]]:
    """The LLM agent with its shell sandbox on the work tree; returns a closer for the sandbox."""
    from orchestrator.agent.factory import build_agent
    from sandbox import Sandbox

    shell = Sandbox(config.sandbox, workspace=config.work_dir, run_id=run_id, purpose="shell", on_event=run_log.sink)
    try:
        operator, supervisor = build_agent(config, shell, run_log, meter)
    except BaseException:
        shell.close()
        raise
    return operator, supervisor, shell.close


def _rejection_reason(verdict: Verdict, rescore: Score, claimed: Score | None) -> str:
    """The commit rule's reason, saying so when the agent's own evaluation of this exact source
    passed but the fresh re-score fails correctness: flaky or state-dependent code, or a candidate
    that games the agent's evaluation, is then told apart from one that was never shown to work."""
    if claimed is not None and claimed.passes_correctness and not rescore.passes_correctness:
        return f"did not reproduce in a fresh container: {verdict.reason}"
    return verdict.reason


def _llm_label(config: EvolutionConfig) -> str:
    """``provider:model`` as the agent's turns name it (a replay names its transcript)."""
    llm = config.llm
    if llm.provider == "replay":
        return f"replay:{llm.replay_file.name if llm.replay_file else 'transcript'}"
    return f"{llm.provider}:{llm.model}"


class _PriorEvents:
    """The previous runs' log, read again for each use (``prior("budget", "commit")`` yields those
    kinds in order) rather than held whole: resume keeps only what it restores."""

    def __init__(self, path: Path | None) -> None:
        self._path = path

    def __call__(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return read_events(self._path, *kinds) if self._path is not None else iter(())


class EvolutionRunner:
    """Runs (or resumes, with ``resume=True``) the evolution described by ``config``."""

    def __init__(self, config: EvolutionConfig, *, operator: VariationOperator | None = None,
                 evaluator: Evaluator | None = None, supervisor: Supervisor | None = None,
                 hidden_evaluator: Evaluator | None = None, resume: bool = False) -> None:
        self.config = config
        self.resume = resume
        self.run_id = _new_run_id()
        self.run_log = RunLog(config.run_log_path, self.run_id)
        self.store: LineageStore = open_store(config)
        self._operator = operator
        self._evaluator = evaluator
        self._hidden_evaluator = hidden_evaluator  # scores the hidden split; never handed to the agent
        self._supervisor = supervisor
        self._closers: list[Callable[[], None]] = []
        self._population: Population | None = None
        self._budget: Budget | None = None
        self._meter: BudgetMeter | None = None
        self._stall = StallWatch(max_without_candidate=config.max_steps_without_candidate,
                                 backoff_s=config.failed_step_backoff_s, backoff_max_s=config.failed_step_backoff_max_s)
        self._step = 0
        self._steps_run = 0
        self._failures = 0
        self._committed = 0
        self._tokens_at_commit = 0
        self._cost_at_commit = 0.0
        self.stop_reason = "not started"
        self._interruption = Interruption()

    # -- public -----------------------------------------------------------------------------

    def run(self) -> RunResults:
        """Run until a stop condition; returns :meth:`get_results`. Raises AvoError subclasses
        for what the user must fix (an existing lineage without ``resume``, a broken seed,
        another run holding the workspace)."""
        with WorkspaceLock(self.config.workspace_dir):
            return self._run_locked()

    def _run_locked(self) -> RunResults:
        resuming = self.store.exists()
        if resuming and not self.resume:
            raise LineageError(
                f"{self.config.workspace_dir} already holds a lineage: pass --resume (resume=True) to "
                "continue it, or set workspace_dir to another folder")
        self.config.check_files()
        prior = _PriorEvents(self.config.run_log_path if resuming else None)
        self._budget = Budget(self.config.budget, self.config.max_wall_time_hours,
                              spent=BudgetUsage.from_events(prior("budget")))
        self._meter = BudgetMeter(self._budget, self.run_log)
        self._step = max((e.get("step", 0) for e in prior("variation_start")), default=0)
        sandbox = self.config.sandbox
        self.run_log.emit("run_start", project=self.config.project_name, resume=resuming,
                          workspace=str(self.config.workspace_dir), step=self._step,
                          config_digest=self.config.digest(), backend=sandbox.backend, image=sandbox.image,
                          runtime=sandbox.runtime, gpus=sandbox.gpus.model_dump(), llm=_llm_label(self.config),
                          min_improvement=self.config.min_improvement)
        with self._interruption.handling():
            try:
                self._open_components()
                self._population = self._open_population(resuming, prior)
                if resuming:
                    self._restore_step_state(prior)
                else:
                    self._commit_seed()
                self._restore_best()
                self.stop_reason = self._loop()
                self._restore_best()
            except KeyboardInterrupt as exc:
                self.stop_reason = f"aborted ({exc.by if isinstance(exc, RunAborted) else 'KeyboardInterrupt'})"
                raise
            except BaseException as exc:
                self.stop_reason = f"error: {type(exc).__name__}: {exc}"
                raise
            finally:
                with self._interruption.closing():  # a further signal must not leave containers behind
                    self._close()
                    lineage = self._population.lineage if self._population else Lineage()
                    self.run_log.emit("run_end", reason=self.stop_reason,
                                      **self._results(lineage).model_dump(exclude={"stop_reason"}))
        return self.get_results()

    def get_results(self) -> RunResults:
        """A summary of the lineage and of this run's spending (the stored lineage before ``run``)."""
        return self._results(self._population.lineage if self._population else self.store.load())

    def _results(self, lineage: Lineage) -> RunResults:
        best = lineage.best
        seed = lineage.solutions[0].aggregate if lineage.solutions else 0.0
        usage = self._budget.usage if self._budget else BudgetUsage()
        return RunResults(
            run_id=self.run_id, best_version=best.version if best else None,
            best_aggregate=best.aggregate if best else 0.0, seed_aggregate=seed,
            improvement_pct=((best.aggregate / seed - 1) * 100) if best and seed else 0.0,
            versions=len(lineage.solutions), committed_this_run=self._committed, steps=self._steps_run,
            failures=self._failures, tokens=usage.tokens, cost_usd=round(usage.cost_usd, 6),
            elapsed_s=round(usage.elapsed_s, 3), stop_reason=self.stop_reason,
        )

    def request_stop(self, by: str = "Ctrl-C") -> None:
        """Stop cleanly after the current step (what the first Ctrl-C at a terminal does)."""
        self._interruption.request_stop(by)

    # -- set-up -------------------------------------------------------------------------------

    def _open_components(self) -> None:
        self._use_problem_image()
        if self._evaluator is None:
            self._evaluator = _default_evaluator(self.config, self.run_id, self.run_log)
            self._closers.append(self._evaluator.close)
        if self._hidden_evaluator is None and self.config.scoring.hidden is not None:
            self._hidden_evaluator = _default_evaluator(self.config, self.run_id, self.run_log, split="hidden")
            self._closers.append(self._hidden_evaluator.close)
        if self._operator is None:
            assert self._meter is not None
            operator, supervisor, close_shell = _default_agent(self.config, self.run_id, self.run_log, self._meter)
            self._closers.append(close_shell)
            self._operator = operator
            self._supervisor = self._supervisor or supervisor
        if self._supervisor is None:
            self._supervisor = NoSupervisor()

    def _use_problem_image(self) -> None:
        """With ``sandbox.packages``/``requirements``: run every call in the problem's derived image,
        building it first when it is missing (once per content hash)."""
        if not (self.config.sandbox.packages or self.config.sandbox.requirements):
            return
        from sandbox.problem_image import ProblemImage

        started = time.monotonic()
        steps: list[str] = []
        policy = ProblemImage(self.config.sandbox).resolve(build=True, progress=steps.append)
        self.config = self.config.model_copy(update={"sandbox": policy})
        self.run_log.emit("problem_image", image=policy.image, built=bool(steps),
                          seconds=round(time.monotonic() - started, 3), detail=steps)

    def _open_population(self, resuming: bool, prior: _PriorEvents) -> Population:
        assert self._evaluator is not None
        configurations = self._evaluator.configurations()
        hidden = self._hidden_evaluator.configurations() if self._hidden_evaluator is not None else []
        if not resuming:
            return Population(Lineage(configurations=configurations, hidden_configurations=hidden),
                              self.config.min_improvement)
        self.store.recover()
        lineage = self.store.load()
        seed = lineage.solutions[0]
        missing = [name for name in configurations if name not in seed.score.values]
        missing += [name for name in hidden if name not in seed.hidden_values]
        if missing or bool(hidden) != bool(seed.hidden_values):
            raise LineageError(f"the scorer's configurations changed since this lineage began (new: "
                               f"{', '.join(missing) or 'a hidden split'}); scores would not compare: "
                               "start a new workspace")
        lineage.configurations, lineage.hidden_configurations = configurations, hidden
        population = Population(lineage, self.config.min_improvement)
        for event in prior("rejection"):
            population.record_failure(Attempt(step=event.get("step", 0), reason=event.get("reason", ""),
                                                  aggregate=event.get("aggregate", 0.0),
                                                  source_hash=event.get("source_hash")))
        assert self._budget is not None
        self._tokens_at_commit, self._cost_at_commit = self._budget.usage.tokens, self._budget.usage.cost_usd
        return population

    def _restore_step_state(self, prior: _PriorEvents) -> None:
        """What the supervisor and the stall brakes knew when the last run ended, from its log."""
        assert self._supervisor is not None
        self._supervisor.restore(prior("supervisor", "commit", "rejection"))
        self._stall.restore(prior("variation_end", "run_end", "commit", "rejection"))

    def _commit_seed(self) -> None:
        assert self._evaluator is not None and self._population is not None
        try:
            seed = self.config.layout.seed(self.config.seed_file)
        except WorkspaceEscape as exc:
            raise ConfigError(f"seed_file {self.config.seed_file}: {exc}") from None
        score = self._evaluator.evaluate(seed.source, purpose="seed", files=seed.files or None)
        hidden = self._score_hidden(seed, "seed") if score.passes_correctness else None
        verdict = self._population.judge(score, hidden)
        if not verdict.accepted:
            detail = f" ({verdict.hidden_detail})" if verdict.hidden_detail else ""
            raise ConfigError(f"seed {verdict.reason}{detail} (seed_file {self.config.seed_file}): "
                              "fix the seed or the scorer")
        self._commit(0, seed, score, verdict, "seed", hidden)

    def _score_hidden(self, candidate: Candidate, purpose: str) -> Score | None:
        """The hidden split's score of ``candidate`` (None without a hidden split)."""
        if self._hidden_evaluator is None:
            return None
        best = self._population.best if self._population else None
        return self._hidden_evaluator.evaluate(candidate.source, purpose=purpose, files=candidate.files or None,
                                               previous_best=best.hidden_values if best else None)

    # -- the loop -----------------------------------------------------------------------------

    def _loop(self) -> str:
        while (reason := self._should_stop()) is None:
            if self._back_off() and (reason := self._should_stop()) is not None:
                break
            self._step += 1
            self._steps_run += 1
            try:
                self._variation_step(self._step)
            except RunAborted as exc:  # its calls are killed as the run closes; nothing of it was committed
                self.run_log.emit("step_aborted", step=self._step, by=exc.by)
                raise
            except ReplayExhausted:
                return "replay finished"
            except BudgetExhausted as exc:
                return f"budget spent: {exc}"
        return reason

    def _back_off(self) -> bool:
        """Pause after a step without a correct candidate (cut short by a stop); True if it paused."""
        delay = self._stall.delay_s()
        if not delay:
            return False
        self.run_log.emit("backoff", step=self._step, delay_s=round(delay, 3), failed_steps=self._stall.failed)
        self._interruption.pause(delay)
        return True

    def _should_stop(self) -> str | None:
        assert self._population is not None and self._budget is not None
        if self._interruption.stop_requested:
            return f"interrupted ({self._interruption.requested_by})"
        best = self._population.best
        if best is not None and best.version >= self.config.max_versions:
            return f"max_versions reached (v{best.version})"
        return self._budget.exhausted() or self._stall.stalled()

    def _variation_step(self, step: int) -> None:
        assert self._population and self._budget and self._meter and self._operator and self._supervisor
        assert self._evaluator is not None
        best = self._population.best
        directive = self._supervisor.current_directive()
        self.run_log.emit("variation_start", step=step, best_version=best.version if best else None,
                          best_aggregate=best.aggregate if best else 0.0, directive=directive)
        context = VariationContext(
            step=step, lineage=self._population.lineage.public_view(), work_dir=self.config.work_dir,
            solution_file=self.config.solution_file, layout=self.config.layout, directive=directive,
            evaluator=self._evaluator,
            run_log=self.run_log, tokens_left=self._budget.tokens_left, cost_left_usd=self._budget.cost_left_usd,
        )
        before = self._budget.usage
        result = self._operator.vary(context)
        self._meter.settle(result.tokens_used, result.cost_usd, since=before)
        self.run_log.emit("variation_end", step=step, submitted=result.submitted, tokens=result.tokens_used,
                          cost_usd=result.cost_usd, model_turns=result.model_turns, tool_calls=result.tool_calls,
                          rationale=result.rationale[:1000], failure_reason=result.failure_reason[:1000])
        outcome = self._judge(step, result)
        self._stall.record(outcome, submitted=result.submitted)
        before = self._budget.usage
        redirect = self._supervisor.after_step(outcome, self._population.lineage.public_view())
        if redirect is not None:  # the supervisor logs its own intervention, with its model's label
            self._meter.settle(redirect.tokens_used, redirect.cost_usd, since=before)

    def _judge(self, step: int, result: VariationResult) -> StepOutcome:
        """Re-score the submitted candidate in a fresh container; commit it or restore the best."""
        assert self._population is not None and self._evaluator is not None
        if not result.submitted:
            return self._reject(step, result.failure_reason or "no candidate submitted", result)
        layout = self.config.layout
        try:
            submitted = result.files if layout.directory else result.source
            candidate = (read_candidate(self.config.work_dir, layout) if submitted is None else
                         layout.candidate(result.files) if layout.directory else Candidate(result.source))
        except OSError as exc:  # refused (a link, a FIFO, too large, not UTF-8) or missing
            return self._reject(step, f"candidate refused: {exc}", result)
        refused = self._population.precheck(candidate, layout.label)
        if refused:
            return self._reject(step, refused, result, candidate)
        best = self._population.best
        score = self._evaluator.evaluate(candidate.source, purpose="rescore", files=candidate.files or None,
                                         previous_best=best.score.values if best else None)
        public_ok = score.passes_on(self._population.configurations)
        hidden = self._score_hidden(candidate, "rescore") if public_ok else None
        verdict = self._population.judge(score, hidden)
        if not verdict.accepted:
            reason = _rejection_reason(verdict, score, result.claimed_score)
            return self._reject(step, reason, result, candidate, verdict.visible_aggregate, score,
                                verdict.hidden_detail)
        version = self._commit(step, candidate, score, verdict, result.rationale or f"step {step}", hidden,
                               claimed=result.claimed_score)
        return StepOutcome(step=step, committed=True, reason=f"committed v{version}: {verdict.reason}",
                           aggregate=verdict.visible_aggregate, source_hash=candidate.digest,
                           rationale=result.rationale)

    def _commit(self, step: int, candidate: Candidate, score: Score, verdict: Verdict, message: str,
                hidden: Score | None = None, claimed: Score | None = None) -> int:
        """Persist the next version (uninterruptible), then make the work tree match it."""
        assert self._population is not None and self._budget is not None
        usage = self._budget.usage
        solution = self._population.next_solution(
            candidate, score, verdict, message=message, tokens_used=usage.tokens - self._tokens_at_commit,
            cost_usd=round(usage.cost_usd - self._cost_at_commit, 6), hidden=hidden)
        with self._interruption.critical():  # an abort waits until the version and its log event are whole
            stored = self.store.append(solution)
            self._population.admit(stored)
            self._tokens_at_commit, self._cost_at_commit = usage.tokens, usage.cost_usd
            self._committed += 1
            self._restore_best()  # the work tree now holds the new best version
            self.run_log.emit("commit", step=step, version=stored.version, parent=stored.parent,
                              aggregate=stored.aggregate, values=score.values, commit=stored.commit,
                              reason=verdict.reason, message=message[:1000], source_hash=candidate.digest,
                              **self._claim(claimed),
                              **({"hidden_values": stored.hidden_values} if stored.hidden_values else {}))
        return stored.version

    def _reject(self, step: int, reason: str, result: VariationResult, candidate: Candidate | None = None,
                aggregate: float = 0.0, rescore: Score | None = None, hidden_detail: str = "") -> StepOutcome:
        """Record a failed attempt and put the best version back in the work tree. ``reason`` and
        ``aggregate`` are what the agent reads (rebuilt from the run log on resume); ``rescore`` is the
        public re-score and ``hidden_detail`` why the hidden split turned it down, for the user only."""
        assert self._population is not None
        digest = candidate.digest if candidate is not None else None
        self._population.record_failure(Attempt(step=step, reason=reason, aggregate=aggregate,
                                                source_hash=digest, rationale=result.rationale))
        self._restore_best()
        self._failures += 1
        self.run_log.emit("rejection", step=step, reason=reason, aggregate=aggregate, source_hash=digest,
                          values=rescore.values if rescore else None,
                          passes=rescore.passes_correctness if rescore else None, rationale=result.rationale[:300],
                          **self._claim(result.claimed_score), **({"hidden_detail": hidden_detail} if hidden_detail else {}))
        return StepOutcome(step=step, committed=False, reason=reason, aggregate=aggregate,
                           source_hash=digest, rationale=result.rationale)

    def _restore_best(self) -> None:
        """Put the best version back in the work tree. Hostile permissions are undone on the
        way (see ``workspace_files``); anything still in the way (a folder on the solution's
        path turned into a link) is logged, never the end of the run: the next submission
        is then refused on its own."""
        assert self._population is not None
        try:
            self._population.restore(self.config.work_dir, self.config.layout)
        except OSError as exc:
            self.run_log.emit("restore_failed", reason=str(exc)[:500])

    def _claim(self, claimed: Score | None) -> dict[str, Any]:
        """What the agent's own evaluation of the submitted source said, for the run log."""
        assert self._population is not None
        if claimed is None:
            return {"claimed_aggregate": None, "claimed_passes": None}
        return {"claimed_aggregate": claimed.aggregate(self._population.configurations),
                "claimed_passes": claimed.passes_correctness}

    # -- clean-up ------------------------------------------------------------------------------

    def _close(self) -> None:
        while self._closers:
            self._closers.pop()()
