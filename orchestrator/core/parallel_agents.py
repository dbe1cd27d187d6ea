"""Many agents, one lineage: ``agents`` > 1 runs several variation steps at once.

Each agent is the classic loop's variation step with its own operator, evaluator, shell
sandbox, work tree and scoring resource, running in a worker thread. The main thread owns
what must happen one at a time: signals, step ids, and the single commit path (judge,
persist, log); workers never touch the lineage.

Exact commits:

- every step starts from the best version at that moment (``Avo-Parent`` records it,
  ``Avo-Agent`` the agent);
- a submitted candidate is re-scored by its agent, on that agent's resource, together with
  the current best (candidate, then best: one paired measurement; with ``scoring.hidden`` each
  of the two is scored on both splits, by that agent's own hidden evaluator), and the main
  thread judges it against that best only if it is still the best at commit time; otherwise
  the agent re-scores against the new best. GPU-to-GPU differences never decide a commit;
- versions stay dense and the git chain linear: a candidate built on v3 that beats v4
  becomes v5 and replaces v4's code;
- a source already tried in this run (by any agent) is told so instead of being scored.

Spending: every model call is charged once, to the run and to its agent
(:mod:`orchestrator.core.agent_meter`); a commit's ``Avo-Tokens`` is what its agent's step spent.
Budgets, stall brakes, the supervisor and stop conditions are run-wide. A crashed agent is
rebuilt and restarted (up to ``MAX_CRASHES_IN_A_ROW`` times); ``--resume`` starts fresh
agents from the best version.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import EvolutionConfig
from orchestrator.core.agent_meter import AgentMeter, AgentSpending, SharedBudgetMeter
from orchestrator.core.evolution import EvolutionRunner, _PriorEvents, _rejection_reason
from orchestrator.core.interruption import RunAborted
from orchestrator.core.interfaces import (Evaluator, NoSupervisor, StepOutcome, Supervisor, UsageMeter,
                                          VariationContext, VariationOperator, VariationResult)
from orchestrator.core.population import Population, Verdict
from orchestrator.core.run_log import RunLog
from orchestrator.core.scoring import Score
from orchestrator.core.solution_layout import Candidate, read_candidate, write_candidate
from orchestrator.core.types import Lineage, Solution
from orchestrator.errors import BudgetExhausted, ConfigError, ReplayExhausted

__all__ = ["AgentParts", "AgentFactory", "ParallelEvolutionRunner", "open_runner"]

#: An agent that crashes this many times without finishing a step in between is retired.
MAX_CRASHES_IN_A_ROW = 3
#: How often the main thread looks at stop conditions while it waits for agents (seconds).
POLL_S = 0.2


@dataclass
class AgentParts:
    """What one agent varies and scores with; ``close`` releases its sandboxes. ``hidden_evaluator``
    (required with ``scoring.hidden``) scores the hidden split on the same resource; only the
    agent's worker holds it, never its operator."""

    operator: VariationOperator
    evaluator: Evaluator
    close: Callable[[], None]
    label: str = ""
    hidden_evaluator: Evaluator | None = None


#: Builds agent ``index``'s parts; its events go to ``run_log``, its model calls to ``meter``.
AgentFactory = Callable[[int, RunLog, UsageMeter], AgentParts]


class AgentRunLog(RunLog):
    """One agent's view of the run log: every event it writes carries ``agent``."""

    def __init__(self, parent: RunLog, agent: int) -> None:  # shares the parent's file and lock
        self.path, self.run_id, self._parent, self.agent = parent.path, parent.run_id, parent, agent

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        return self._parent.emit(kind, **{"agent": self.agent, **data})


class CommitPathLog(RunLog):
    """The runner's run log: while the commit path settles an agent's submission, the events it
    writes (``rejection``, ``commit``, ``restore_failed``) carry that agent (per thread)."""

    def __init__(self, path: Any, run_id: str) -> None:
        super().__init__(path, run_id)
        self._settling = threading.local()

    def settling(self, agent: int | None) -> None:
        self._settling.agent = agent

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        agent = getattr(self._settling, "agent", None)
        return super().emit(kind, **({"agent": agent, **data} if agent is not None else data))


@dataclass
class Ticket:
    """One step handed to an agent: its id, the best version it starts from, the supervisor's
    directive, and how long to back off first (run-wide stall brake)."""

    step: int
    base: Solution
    directive: str | None
    delay_s: float = 0.0


@dataclass
class Submission:
    """An agent's finished step, for the commit path. ``refused`` rejects it unscored;
    otherwise ``score`` and ``best_score`` are the paired re-score against version ``against``
    (``hidden`` and ``best_hidden`` its hidden split, with ``scoring.hidden``)."""

    agent: int
    ticket: Ticket
    result: VariationResult
    spent: AgentSpending
    candidate: Candidate | None = None
    refused: str | None = None
    score: Score | None = None
    best_score: Score | None = None
    hidden: Score | None = None
    best_hidden: Score | None = None
    against: int | None = None
    reply: "queue.Queue[bool]" = field(default_factory=lambda: queue.Queue(maxsize=1))


@dataclass
class AgentEnded:
    """An agent's thread ended: ``crashed`` (to restart), or the script/budget ran out."""

    agent: int
    reason: str
    crashed: bool


class AgentWorker(threading.Thread):
    """Runs the steps the main thread hands it, one at a time, and submits each."""

    def __init__(self, runner: "ParallelEvolutionRunner", index: int, parts: AgentParts, meter: AgentMeter,
                 log: AgentRunLog) -> None:
        super().__init__(name=f"avo-agent{index}", daemon=True)
        self.runner, self.index, self.parts, self.meter, self.log = runner, index, parts, meter, log
        self.inbox: "queue.Queue[Ticket | None]" = queue.Queue()
        self.work_dir = runner.config.workspace_dir / "agents" / f"agent{index}"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.state = "starting"
        self.base_version: int | None = None
        self.step: int | None = None  # the step the main thread last handed it
        self.last_score: float | None = None

    def run(self) -> None:
        outbox = self.runner.outbox
        while (ticket := self.inbox.get()) is not None:
            try:
                self._step(ticket)
            except ReplayExhausted:
                outbox.put(AgentEnded(self.index, "replay finished", crashed=False))
                return
            except BudgetExhausted as exc:
                outbox.put(AgentEnded(self.index, f"budget spent: {exc}", crashed=False))
                return
            except Exception as exc:  # an agent's fault must not take the run down: the main thread restarts it
                if self.runner.aborted.is_set():  # the abort closed its sandboxes under it: not a crash
                    return
                self.log.emit("agent_crash", step=ticket.step, error=f"{type(exc).__name__}: {exc}"[:1000],
                              traceback=traceback.format_exc()[-4000:])
                outbox.put(AgentEnded(self.index, f"{type(exc).__name__}: {exc}", crashed=True))
                return
        self.state = "stopped"

    def _step(self, ticket: Ticket) -> None:
        runner, config = self.runner, self.runner.config
        if ticket.delay_s:
            self.state = "backing off"
            self.log.emit("backoff", step=ticket.step, delay_s=round(ticket.delay_s, 3))
            runner.stopping.wait(ticket.delay_s)
        self.state, self.base_version = "varying", ticket.base.version
        write_candidate(self.work_dir, config.layout, ticket.base.candidate)
        self.log.emit("variation_start", step=ticket.step, best_version=ticket.base.version,
                      best_aggregate=ticket.base.aggregate, directive=ticket.directive)
        budget = self.meter.budget
        context = VariationContext(
            step=ticket.step, lineage=runner.lineage_snapshot(), work_dir=self.work_dir,
            solution_file=config.solution_file, layout=config.layout, directive=ticket.directive,
            evaluator=self.parts.evaluator, run_log=self.log, tokens_left=budget.tokens_left,
            cost_left_usd=budget.cost_left_usd)
        since = self.meter.spent
        result = self.parts.operator.vary(context)
        self.meter.settle(result.tokens_used, result.cost_usd, since=since)
        spent = AgentSpending(tokens=self.meter.spent.tokens - since.tokens,
                              cost_usd=round(self.meter.spent.cost_usd - since.cost_usd, 6))
        self.log.emit("variation_end", step=ticket.step, submitted=result.submitted, tokens=spent.tokens,
                      cost_usd=spent.cost_usd, model_turns=result.model_turns, tool_calls=result.tool_calls,
                      rationale=result.rationale[:1000], failure_reason=result.failure_reason[:1000])
        submission = Submission(self.index, ticket, result, spent)
        self._prepare(submission)
        if submission.refused is None:
            self.state = "scoring"
            self._rescore(submission)
        while True:
            self.state = "committing"
            runner.outbox.put(submission)
            if submission.reply.get():
                break
            self.state = "scoring"  # another agent committed meanwhile: measure the new best here too
            self._rescore_best(submission)

    def _prepare(self, submission: Submission) -> None:
        """Read the candidate; refuse it unscored when it is missing, unchanged, or already tried."""
        result, layout = submission.result, self.runner.config.layout
        if not result.submitted:
            submission.refused = result.failure_reason or "no candidate submitted"
            return
        try:
            submitted = result.files if layout.directory else result.source
            submission.candidate = (read_candidate(self.work_dir, layout) if submitted is None else
                                    layout.candidate(result.files) if layout.directory else Candidate(result.source))
        except OSError as exc:  # refused (a link, a FIFO, too large, not UTF-8) or missing
            submission.refused = f"candidate refused: {exc}"
            return
        submission.refused = self.runner.claim(submission.candidate, self.index, submission.ticket.step)

    def _rescore(self, submission: Submission) -> None:
        """The paired measurement on this agent's resource: the candidate, then the current best
        (each on the public split, then the hidden one)."""
        assert submission.candidate is not None
        candidate, best = submission.candidate, self.runner.current_best()
        submission.score = self.parts.evaluator.evaluate(
            candidate.source, purpose="rescore", files=candidate.files or None, previous_best=best.score.values)
        self.last_score = submission.score.aggregate(self.runner.configurations)
        if submission.score.passes_on(self.runner.configurations):
            submission.hidden = self._score_hidden(candidate, "rescore", best.hidden_values)
        self._rescore_best(submission)

    def _rescore_best(self, submission: Submission) -> None:
        """The current best, on the same resource as the candidate and on the same splits (skipped for
        a candidate that fails either split, which the commit rule rejects without comparing)."""
        assert submission.score is not None
        best = self.runner.current_best()
        submission.against = best.version
        submission.best_score = submission.best_hidden = None
        runner = self.runner
        if not submission.score.passes_on(runner.configurations) or (self.parts.hidden_evaluator is not None and not (
                submission.hidden is not None and submission.hidden.passes_on(runner.hidden_configurations))):
            return
        submission.best_score = self.parts.evaluator.evaluate(best.source, purpose="rescore-best",
                                                              files=best.files or None)
        if submission.best_score.passes_on(runner.configurations):
            submission.best_hidden = self._score_hidden(best.candidate, "rescore-best")

    def _score_hidden(self, candidate: Candidate, purpose: str,
                      previous_best: dict[str, float] | None = None) -> Score | None:
        """``candidate``'s hidden-split score on this agent's resource (None without a hidden split)."""
        if self.parts.hidden_evaluator is None:
            return None
        return self.parts.hidden_evaluator.evaluate(candidate.source, purpose=purpose,
                                                    files=candidate.files or None, previous_best=previous_best or None)


class ParallelEvolutionRunner(EvolutionRunner):
    """``EvolutionRunner`` with ``config.agents`` agents varying the lineage at once.

    ``agent_factory`` builds each agent's parts (tests hand scripted ones); without it each
    agent gets the LLM agent, a shell sandbox and a scoring sandbox on its own resource
    (:mod:`orchestrator.agent_pool`).
    """

    def __init__(self, config: EvolutionConfig, *, agent_factory: AgentFactory | None = None,
                 supervisor: Supervisor | None = None, resume: bool = False) -> None:
        super().__init__(config, supervisor=supervisor, resume=resume)
        self.run_log = CommitPathLog(config.run_log_path, self.run_id)
        self._factory = agent_factory
        self._workers: dict[int, AgentWorker] = {}
        self._crashes: dict[int, int] = {}
        self._ended: dict[int, str] = {}
        self._tried: dict[str, tuple[int, int]] = {}  # source hash -> (agent, step) of its first try
        self._state = threading.Lock()
        self.outbox: "queue.Queue[Submission | AgentEnded]" = queue.Queue()
        self.stopping = threading.Event()
        self.aborted = threading.Event()  # a signal aborted the run: the steps in flight end with it

    # -- what workers may read ------------------------------------------------------------------

    @property
    def configurations(self) -> list[str]:
        assert self._population is not None
        return self._population.configurations

    @property
    def hidden_configurations(self) -> list[str]:
        assert self._population is not None
        return self._population.hidden_configurations

    def lineage_snapshot(self) -> Lineage:
        """A copy of the agent-visible lineage that the commit path cannot change under a reader."""
        assert self._population is not None
        with self._state:
            view = self._population.lineage.public_view()
            return view.model_copy(update={"solutions": list(view.solutions), "attempts": list(view.attempts)})

    def current_best(self) -> Solution:
        assert self._population is not None and self._population.best is not None
        with self._state:
            return self._population.best

    def claim(self, candidate: Candidate, agent: int, step: int) -> str | None:
        """Why ``candidate`` must not be scored (unchanged, outside its EVOLVE-BLOCKs, or already tried in
        this run), else None; the first claim of a source wins, so concurrent twins are scored once."""
        assert self._population is not None
        with self._state:
            refused = self._population.precheck(candidate, self.config.layout.label)
            if refused:
                return refused
            earlier = self._tried.setdefault(candidate.digest, (agent, step))
        if earlier != (agent, step):
            return (f"the same source was already tried in this run (agent {earlier[0]}, step {earlier[1]}): "
                    "it is not scored again; try a different change")
        return None

    # -- set-up -----------------------------------------------------------------------------------

    def _open_components(self) -> None:
        self._use_problem_image()
        assert self._budget is not None
        self._meter = SharedBudgetMeter(self._budget, self.run_log)
        if self._factory is None:
            from orchestrator.agent_pool import default_factory, default_supervisor

            self._factory = default_factory(self.config, self.run_id)
            if self._supervisor is None:
                self._supervisor = default_supervisor(self.config, self.run_log, self._meter)
        self._supervisor = self._supervisor or NoSupervisor()
        for index in range(self.config.agents):
            self._start_agent(index)
        # agent 0's evaluators score the seed; the configurations come from them
        first = self._workers[0].parts
        self._evaluator, self._hidden_evaluator = first.evaluator, first.hidden_evaluator

    def _start_agent(self, index: int) -> AgentWorker:
        assert self._factory is not None and isinstance(self._meter, SharedBudgetMeter)
        log = AgentRunLog(self.run_log, index)
        previous = self._workers.get(index)
        meter = AgentMeter(self._meter, index, log)
        if previous is not None:
            meter.spent = previous.meter.spent
        parts = self._factory(index, log, meter)
        self._closers.append(parts.close)
        if (parts.hidden_evaluator is None) != (self.config.scoring.hidden is None):
            raise ConfigError(f"agent {index}'s parts {'lack' if parts.hidden_evaluator is None else 'have'} a "
                              "hidden evaluator but scoring.hidden is "
                              f"{'set' if self.config.scoring.hidden is not None else 'not set'}")
        worker = AgentWorker(self, index, parts, meter, log)
        self._workers[index] = worker
        log.emit("agent_start", resource=parts.label, work_dir=str(worker.work_dir), restart=previous is not None)
        worker.start()
        return worker

    def _open_population(self, resuming: bool, prior: _PriorEvents) -> Population:
        population = super()._open_population(resuming, prior)
        for event in prior("commit", "rejection"):  # what earlier runs tried is not scored again
            if event.get("source_hash"):
                self._tried.setdefault(event["source_hash"], (event.get("agent", 0), event.get("step", 0)))
        return population

    # -- the loop -----------------------------------------------------------------------------------

    def _loop(self) -> str:
        try:
            return self._agents_loop()
        except RunAborted as exc:  # each agent's calls are killed as the run closes; nothing of theirs committed
            self.aborted.set()
            for worker in self._workers.values():
                if worker.step is not None and worker.index not in self._ended and self._busy_state(worker):
                    worker.log.emit("step_aborted", step=worker.step, by=exc.by)
            raise

    def _agents_loop(self) -> str:
        for worker in self._workers.values():
            self._issue(worker)
        reason: str | None = None
        while self._busy():
            reason = reason or self._should_stop()
            if reason is not None:
                self.stopping.set()
            try:
                message = self.outbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if isinstance(message, AgentEnded):
                ended = self._agent_ended(message)  # always: it retires or restarts the agent
                reason = reason or ended
                continue
            if not self._settle(message):
                continue
            worker = self._workers[message.agent]
            reason = reason or self._should_stop()
            if reason is None:
                self._issue(worker)
            else:
                worker.state = "idle"
        return reason or self._should_stop() or "replay finished"

    def _busy(self) -> bool:
        """Whether some agent is running a step (the loop ends when none is)."""
        return any(self._busy_state(worker) for worker in self._workers.values() if worker.index not in self._ended)

    @staticmethod
    def _busy_state(worker: AgentWorker) -> bool:
        return worker.state not in ("idle", "stopped", "ended")

    def _issue(self, worker: AgentWorker) -> None:
        """Hand ``worker`` the next step, from the best version as of now."""
        assert self._population is not None and self._population.best is not None and self._supervisor is not None
        self._step += 1
        self._steps_run += 1
        worker.state, worker.step = "queued", self._step
        worker.inbox.put(Ticket(step=self._step, base=self._population.best,
                                directive=self._supervisor.current_directive(), delay_s=self._stall.delay_s()))

    def _agent_ended(self, ended: AgentEnded) -> str | None:
        """Restart a crashed agent (unless it keeps crashing); a run-wide stop reason, or None."""
        worker = self._workers[ended.agent]
        worker.state = "ended"
        if ended.crashed:
            self._crashes[ended.agent] = self._crashes.get(ended.agent, 0) + 1
            if self._crashes[ended.agent] < MAX_CRASHES_IN_A_ROW and not self.stopping.is_set():
                try:
                    self._restart(ended.agent)
                    return None
                except Exception as exc:  # its sandbox or client cannot be rebuilt: retire it, not the run
                    ended = AgentEnded(ended.agent, f"restart failed: {type(exc).__name__}: {exc}", crashed=True)
                    self.run_log.emit("agent_crash", agent=ended.agent, error=ended.reason[:1000])
            self._ended[ended.agent] = f"crashed {self._crashes[ended.agent]} times in a row: {ended.reason}"
        else:
            self._ended[ended.agent] = ended.reason
            if ended.reason.startswith("budget spent"):
                return ended.reason
        if len(self._ended) == len(self._workers):
            reasons = set(self._ended.values())
            return reasons.pop() if len(reasons) == 1 else "every agent ended: " + "; ".join(
                f"agent {i}: {why}" for i, why in sorted(self._ended.items()))
        return None

    def _restart(self, index: int) -> None:
        old = self._workers[index]
        if old.parts.close in self._closers:
            self._closers.remove(old.parts.close)
        old.parts.close()
        self._issue(self._start_agent(index))

    # -- the commit path (main thread only) -----------------------------------------------------------

    def _settle(self, submission: Submission) -> bool:
        """Judge one submission; False when it was re-scored against a version no longer the best
        (its agent then re-scores against the new one)."""
        assert self._population is not None and self._population.best is not None and self._supervisor is not None
        best = self._population.best
        stale = submission.refused is None and submission.against != best.version
        if stale and best.version < self.config.max_versions:  # at max_versions it is turned down, not re-measured
            submission.reply.put(False)
            return False
        assert isinstance(self.run_log, CommitPathLog)
        self.run_log.settling(submission.agent)
        try:
            outcome = self._decide(submission)
        finally:
            self.run_log.settling(None)
        self._crashes[submission.agent] = 0
        self._stall.record(outcome, submitted=submission.result.submitted)
        before = self._budget.usage if self._budget else None
        redirect = self._supervisor.after_step(outcome, self.lineage_snapshot())
        if redirect is not None and self._meter is not None and before is not None:
            self._meter.settle(redirect.tokens_used, redirect.cost_usd, since=before)
        submission.reply.put(True)
        return True

    def _decide(self, submission: Submission) -> StepOutcome:
        assert self._population is not None
        step, result = submission.ticket.step, submission.result
        max_versions = self.config.max_versions
        if submission.refused is not None:
            return self._reject(step, submission.refused, result, submission.candidate)
        assert submission.candidate is not None and submission.score is not None
        if self._population.best is not None and self._population.best.version >= max_versions:
            return self._reject(step, f"max_versions reached (v{self._population.best.version}) before it was "
                                      "judged", result, submission.candidate)
        verdict = self._paired_population(submission.best_score, submission.best_hidden).judge(
            submission.score, submission.hidden)
        if not verdict.accepted:
            reason = _rejection_reason(verdict, submission.score, result.claimed_score)
            return self._reject(step, reason, result, submission.candidate, verdict.visible_aggregate,
                                submission.score, verdict.hidden_detail)
        version = self._commit_agent(submission, verdict)
        return StepOutcome(step=step, committed=True, reason=f"committed v{version}: {verdict.reason}",
                           aggregate=verdict.visible_aggregate, source_hash=submission.candidate.digest,
                           rationale=result.rationale)

    def _paired_population(self, best_score: Score | None, best_hidden: Score | None) -> Population:
        """The lineage as the commit rule sees it for a paired re-score: the best version's scores
        (public and, with a hidden split, hidden) replaced by their fresh ones, measured beside the
        candidate's; kept as stored if a fresh run of the best failed (logged host-side)."""
        assert self._population is not None and self._population.best is not None
        population = self._population
        if best_score is None:  # not measured: the candidate failed a split, and the rule turns it down unpaired
            return population
        best, configurations, hidden = population.best, population.configurations, population.hidden_configurations
        problem = _fresh_problem(best_score, configurations)
        if problem is None and hidden:
            problem = _fresh_problem(best_hidden, hidden)
        if problem is not None:
            self.run_log.emit("rescore_best_failed", version=best.version, reason=problem)
            return population
        values = {**best_score.values, **(best_hidden.values if hidden and best_hidden is not None else {})}
        aggregate = Score(values=values, passes_correctness=True).aggregate(configurations + hidden)
        fresh = best.model_copy(update={"score": best_score, "aggregate": aggregate,
                                        "hidden_values": {name: values[name] for name in hidden}})
        lineage = Lineage(configurations=configurations, hidden_configurations=hidden,
                          solutions=[*population.lineage.solutions[:-1], fresh])
        return Population(lineage, population.min_improvement)

    def _commit_agent(self, submission: Submission, verdict: Verdict) -> int:
        """Persist the next version for an agent's candidate (uninterruptible); log it."""
        assert self._population is not None and submission.candidate is not None and submission.score is not None
        ticket, result = submission.ticket, submission.result
        solution = self._population.next_solution(
            submission.candidate, submission.score, verdict, message=result.rationale or f"step {ticket.step}",
            tokens_used=submission.spent.tokens, cost_usd=submission.spent.cost_usd, hidden=submission.hidden,
        ).model_copy(update={"parent": ticket.base.version, "agent": submission.agent})
        with self._interruption.critical():
            stored = self.store.append(solution)
            with self._state:
                self._population.admit(stored)
        self._committed += 1
        self._restore_best()
        self.run_log.emit("commit", step=ticket.step, version=stored.version, parent=stored.parent,
                          replaced=stored.version - 1, aggregate=stored.aggregate, values=submission.score.values,
                          commit=stored.commit, reason=verdict.reason, message=solution.message[:1000],
                          source_hash=submission.candidate.digest, tokens=submission.spent.tokens,
                          cost_usd=submission.spent.cost_usd, **self._claim(result.claimed_score),
                          **({"hidden_values": stored.hidden_values} if stored.hidden_values else {}))
        return stored.version

    def _reject(self, step: int, reason: str, result: VariationResult, candidate: Candidate | None = None,
                aggregate: float = 0.0, rescore: Score | None = None, hidden_detail: str = "") -> StepOutcome:
        with self._state:  # workers read the attempts list
            return super()._reject(step, reason, result, candidate, aggregate, rescore, hidden_detail)

    def _close(self) -> None:
        """Let idle workers end (a seed that fails leaves them waiting for a first step), then close
        every agent's sandboxes."""
        self.stopping.set()
        for worker in self._workers.values():
            worker.inbox.put(None)
        super()._close()

    def agent_states(self) -> list[dict[str, Any]]:
        """Each agent's state, base version and last re-score (the live view's lines)."""
        return [{"agent": w.index, "state": self._ended.get(w.index, w.state), "base_version": w.base_version,
                 "last_score": w.last_score, "resource": w.parts.label} for w in self._workers.values()]


def _fresh_problem(score: Score | None, configurations: list[str]) -> str | None:
    """Why a fresh re-score of the best cannot stand in for its stored score (host-side text), or None."""
    if score is None:
        return "not run"
    if not score.passes_correctness:
        return score.correctness_message or score.error or "fails correctness"
    failed = score.failed_configurations(configurations)
    return f"configurations failed or scored zero: {', '.join(failed)}" if failed else None


def open_runner(config: EvolutionConfig, *, resume: bool = False) -> EvolutionRunner:
    """The runner ``config`` asks for: the classic loop, or several agents (``agents`` > 1)."""
    if config.agents > 1:
        return ParallelEvolutionRunner(config, resume=resume)
    return EvolutionRunner(config, resume=resume)
