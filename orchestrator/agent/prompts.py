"""What the agent is told at the start of a variation step.

The system prompt is stable across steps (goal, scoring contract, rules); the first
user message carries the state ``P_t``: the best version and its scores, the
trajectory, recent diffs, recent failures, the supervisor's directive and the
knowledge base index.
"""

from __future__ import annotations

from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.lineage_summary import (
    attempts_table,
    per_configuration,
    recent_diffs,
    trajectory,
    versions_table,
)
from orchestrator.core.evolve_blocks import has_blocks
from orchestrator.core.interfaces import VariationContext
from orchestrator.core.solution_layout import Candidate, SolutionLayout

EVOLVE_BLOCK_RULE = (
    "\n- The solution marks what may evolve with EVOLVE-BLOCK-START / EVOLVE-BLOCK-END comments: change only "
    "the code between them. Keep the markers and everything outside them exactly as they are; a candidate "
    "that changes anything outside is not evaluated and is rejected."
)

SYSTEM_TEMPLATE = """\
You are the variation operator of an evolutionary search ({project}). Each step you improve {unit},
so that it stays correct and scores higher than the best committed version.

## Scoring contract
A candidate first has to pass the correctness check on fresh inputs; then it is measured on every
benchmark configuration ({configurations}). The aggregate is the geometric mean over all of them;
any failing configuration makes the aggregate 0. Higher is better. A submitted candidate is re-scored
in a fresh container and committed only if it is correct and beats the best version.
{scoring_context}

## Rules
- Everything you run (run_shell, evaluate) runs in a disposable sandbox container with the workspace
  mounted as the current directory, with no network access. Install nothing from the internet.
- {candidate_rule}{blocks}
- Work in a loop: read, consult the knowledge base, edit, evaluate, diagnose, repeat.
- Evaluate before you submit. When the candidate is correct and faster, call submit with a short
  rationale. If you cannot improve it, submit nothing and say so: the attempt is recorded as failed.
- Keep tool outputs small (use start_line/end_line and focused commands); long outputs are truncated.
"""


def system_prompt(context: VariationContext, project: str) -> str:
    configurations = context.lineage.configurations or context.evaluator.configurations()
    scoring = context.evaluator.scoring_context().strip()
    best = context.lineage.best
    layout = context.solution_layout
    return SYSTEM_TEMPLATE.format(
        project=project,
        unit=_unit(layout),
        candidate_rule=_candidate_rule(layout),
        configurations=", ".join(configurations) or "as defined by the scorer",
        scoring_context=f"\nThe scorer's own description:\n{scoring}\n" if scoring else "",
        blocks=EVOLVE_BLOCK_RULE if best is not None and any(map(has_blocks, best.files.values() or [best.source]))
        else "",
    )


def _unit(layout: SolutionLayout) -> str:
    if layout.directory is None:
        return f"ONE file, `{layout.entry}`"
    return f"the files of ONE folder, `{layout.label}` (its entry file is `{layout.entry_path}`)"


def _candidate_rule(layout: SolutionLayout) -> str:
    if layout.directory is None:
        return f"Only `{layout.entry}` is the candidate; other files in the workspace are scratch space for you."
    return (f"Every file in `{layout.label}` is the candidate and is committed with it (text files only, at most "
            f"{layout.max_files} files and {layout.max_bytes} bytes; no links); keep scratch files outside it.")


def first_message(context: VariationContext, knowledge: KnowledgeBase, current: Candidate | None) -> str:
    lineage = context.lineage
    best = lineage.best
    configurations = lineage.configurations or context.evaluator.configurations()
    parts = [f"# Variation step {context.step}"]
    if best is not None:
        parts.append(
            f"## Best version: v{best.version}, aggregate {best.aggregate:.6g}\n"
            f"per configuration: {per_configuration(best, configurations)}\n"
            f"{_workspace_state(context.solution_layout.label, current, best.candidate, best.version)}"
        )
    parts += [
        f"## Score trajectory\n{trajectory(lineage)}",
        f"## Versions\n{versions_table(lineage, limit=15)}",
        f"## Recent changes\n{recent_diffs(lineage, context.solution_layout.label.rstrip('/'))}",
        f"## Recent failed attempts (avoid repeating them)\n{attempts_table(lineage, limit=8)}",
    ]
    if context.directive:
        parts.append(f"## Supervisor directive (follow it)\n{context.directive}")
    parts.append(f"## Knowledge base (search_knowledge / read_knowledge)\n{knowledge.index()}")
    parts.append("Start by deciding what to try; then use the tools. End the step with submit.")
    return "\n\n".join(parts)


def _workspace_state(solution_file: str, current: Candidate | None, best: Candidate, best_version: int) -> str:
    if current is None:
        return f"`{solution_file}` is missing from the workspace; show_version({best_version}) has the best source."
    if current.digest == best.digest:
        return f"`{solution_file}` in the workspace holds v{best_version}."
    return (
        f"`{solution_file}` in the workspace differs from v{best_version} (left by an earlier attempt); "
        f"show_version({best_version}, diff=true) compares them."
    )
