"""The AVO variation operator: one step of ``Vary(P_t) = Agent(P_t, K, f)`` as a tool-calling loop.

The agent, not a fixed script, decides what to read, what to look up, what to edit and
when to evaluate. A step ends when the model calls ``submit`` (a candidate for the
runner to re-score and maybe commit) or as a failed attempt: the turn budget is spent,
the model stops calling tools, or the run's token/cost budget runs out. Every model
turn and tool call goes to the run log.
"""

from __future__ import annotations

import time

from orchestrator.agent.conversation import ContextBudget, estimate_tokens
from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.llm_client import LLMClient
from orchestrator.agent.messages import LLMResponse, Message, ToolCall
from orchestrator.agent.prompts import first_message, system_prompt
from orchestrator.agent.tools import Shell, ToolFailure, Toolbox, ToolOutcome, tool_specs
from orchestrator.agent.truncation import truncate_middle
from orchestrator.core.interfaces import VariationContext, VariationResult
from orchestrator.core.solution_layout import Candidate, candidate_digest
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.score import Score
from orchestrator.errors import AvoError

NUDGE = (
    "You did not call a tool. Continue with the tools (edit, evaluate, ...) and end the step with submit; "
    "if you cannot improve the solution, reply without a tool call again to give up."
)


class AgentVariationOperator:
    """Runs one variation step per :meth:`vary` call; holds nothing between steps but its config."""

    def __init__(
        self,
        client: LLMClient,
        *,
        shell: Shell,
        run_log: RunLog,
        knowledge: KnowledgeBase | None = None,
        max_turns: int = 50,
        context_window_tokens: int = 128_000,
        max_tokens: int | None = None,
        project: str = "avo-evolution",
        tool_output_chars: int = 12_000,
        max_idle_turns: int = 2,
        shell_timeout_s: float | None = None,
    ) -> None:
        self.client = client
        self.shell = shell
        self.run_log = run_log
        self.knowledge = knowledge or KnowledgeBase.empty()
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.project = project
        self.tool_output_chars = tool_output_chars
        self.max_idle_turns = max_idle_turns
        self.shell_timeout_s = shell_timeout_s
        schema_tokens = estimate_tokens([Message.user(s.model_dump_json()) for s in tool_specs(shell_timeout_s)])
        self.context = ContextBudget(context_window_tokens - (max_tokens or 0) - schema_tokens)

    def vary(self, context: VariationContext) -> VariationResult:
        step = _Step(self, context)
        try:
            return step.run()
        except AvoError as exc:
            self.run_log.emit("agent_aborted", step=context.step, reason=str(exc), **step.totals())
            raise


class _Step:
    """The state of one variation step: conversation, toolbox and running totals."""

    def __init__(self, operator: AgentVariationOperator, context: VariationContext) -> None:
        self.op = operator
        self.context = context
        self.toolbox = Toolbox(
            work_dir=context.work_dir,
            solution_file=context.solution_file,
            layout=context.solution_layout,
            shell=operator.shell,
            evaluator=context.evaluator,
            lineage=context.lineage,
            knowledge=operator.knowledge,
            output_limit=operator.tool_output_chars,
            shell_timeout_s=operator.shell_timeout_s,
        )
        self.tokens = 0
        self.cost = 0.0
        self.turns = 0
        self.tool_calls = 0
        # The last evaluate() result per source content: what the agent claims for a submission.
        self.evaluated: dict[str, Score] = {}

    def totals(self) -> dict[str, int | float]:
        return {"tokens_used": self.tokens, "cost_usd": self.cost, "model_turns": self.turns, "tool_calls": self.tool_calls}

    def run(self) -> VariationResult:
        client, log, step = self.op.client, self.op.run_log, self.context.step
        messages = [
            Message.system(system_prompt(self.context, self.op.project)),
            Message.user(first_message(self.context, self.op.knowledge, self._current_candidate())),
        ]
        log.emit("agent_step_start", step=step, llm=client.label, replay=client.is_replay, directive=self.context.directive)
        specs = self.toolbox.specs()
        idle = 0
        while self.turns < self.op.max_turns:
            exhausted = self._budget_exhausted()
            if exhausted:
                return self._failed(exhausted)
            messages, compaction = self.op.context.fit(messages)
            if compaction:
                log.emit("agent_context", step=step, turn=self.turns + 1, action=compaction,
                         estimated_tokens=estimate_tokens(messages))
            response = client.complete(messages, specs, max_tokens=self.op.max_tokens)
            self._record_turn(response)
            messages.append(response.as_message())
            if not response.tool_calls:
                idle += 1
                if idle >= self.op.max_idle_turns:
                    return self._failed("the model stopped calling tools (gave up)")
                messages.append(Message.user(NUDGE))
                continue
            idle = 0
            for call in response.tool_calls:
                outcome = self._call_tool(call)
                messages.append(Message.tool_result(call.id, outcome.content, is_error=outcome.is_error))
                if outcome.submitted:
                    return self._submitted(outcome)
        return self._failed(f"turn budget spent ({self.op.max_turns} model turns) without a submit")

    def _current_candidate(self) -> Candidate | None:
        try:
            return self.toolbox.candidate()
        except (ToolFailure, OSError):
            return None

    def _budget_exhausted(self) -> str | None:
        tokens_left, cost_left = self.context.tokens_left, self.context.cost_left_usd
        if tokens_left is not None and self.tokens >= tokens_left:
            return f"token budget exhausted ({self.tokens} tokens used in this step)"
        if cost_left is not None and self.cost >= cost_left:
            return f"cost budget exhausted (${self.cost:.4f} spent in this step)"
        return None

    def _record_turn(self, response: LLMResponse) -> None:
        self.turns += 1
        self.tokens += response.usage.total_tokens
        self.cost += response.cost_usd
        client = self.op.client
        self.op.run_log.emit(
            "agent_turn", step=self.context.step, turn=self.turns, llm=client.label, provider=client.provider,
            model=client.model, replay=client.is_replay, input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens, cost_usd=response.cost_usd, priced=response.priced,
            latency_s=round(response.latency_s, 4), stop_reason=response.stop_reason,
            tool_calls=[c.name for c in response.tool_calls], text=truncate_middle(response.text, 2000),
        )

    def _call_tool(self, call: ToolCall) -> ToolOutcome:
        self.tool_calls += 1
        started = time.monotonic()
        outcome = self.toolbox.dispatch(call)
        extra = {}
        if outcome.score is not None and outcome.source is not None:
            self.evaluated[candidate_digest(outcome.source, outcome.files)] = outcome.score
            configurations = self.context.lineage.configurations or self.context.evaluator.configurations()
            extra = {"correct": outcome.score.passes_correctness, "aggregate": outcome.score.aggregate(configurations)}
        if outcome.sandbox is not None:
            extra = {"exit_code": outcome.sandbox.exit_code, "timed_out": outcome.sandbox.timed_out,
                     "oom_killed": outcome.sandbox.oom_killed}
        self.op.run_log.emit(
            "agent_tool", step=self.context.step, turn=self.turns, tool=call.name, args=call.summary(),
            result_chars=len(outcome.content), is_error=outcome.is_error,
            duration_s=round(time.monotonic() - started, 4), **extra,
        )
        return outcome

    def _submitted(self, outcome: ToolOutcome) -> VariationResult:
        claimed = self.evaluated.get(candidate_digest(outcome.source or "", outcome.files))
        self.op.run_log.emit(
            "agent_submit", step=self.context.step, rationale=outcome.rationale,
            source_chars=len(outcome.source or ""), evaluated=claimed is not None, llm=self.op.client.label,
            **self.totals(),
        )
        return VariationResult(submitted=True, source=outcome.source, files=outcome.files, rationale=outcome.rationale,
                               claimed_score=claimed, **self.totals())

    def _failed(self, reason: str) -> VariationResult:
        self.op.run_log.emit("agent_failed", step=self.context.step, reason=reason, llm=self.op.client.label, **self.totals())
        return VariationResult(submitted=False, failure_reason=reason, **self.totals())
