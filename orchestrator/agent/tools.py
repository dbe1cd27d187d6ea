"""The agent's tools: schemas from pydantic models, validated dispatch, bounded results.

The tool names are part of avo's interface (see docs/ARCHITECTURE.md). File tools act
on the host but only inside the work dir; ``run_shell`` and ``evaluate`` never run
anything on the host: the first goes to the sandbox given to ``build_agent``, the
second to the run's evaluator (which scores in a fresh container).

A bad call (unknown tool, arguments that are not JSON or fail validation, a path that
escapes, a missing search text) is answered with an error result the model can act on;
only faults no model action can fix (the scorer itself broken, Docker gone, the LLM or
the budget failing) leave the step as exceptions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.lineage_summary import (attempts_table, candidate_diff, per_configuration, unified_diff,
                                                versions_table)
from orchestrator.agent.messages import ToolCall, ToolSpec
from orchestrator.agent.truncation import truncate_middle
from orchestrator.core.evolve_blocks import candidate_outside_change
from orchestrator.core.interfaces import Evaluator
from orchestrator.scoring.score import Score
from orchestrator.core.solution_layout import SKIPPED_DIRS, Candidate, SolutionLayout, read_candidate
from orchestrator.core.types import Lineage
from orchestrator.core.workspace_files import list_tree, read_text, write_text
from orchestrator.errors import BudgetExhausted, LLMError, ScorerError
from sandbox.errors import DockerUnavailable, GpuUnavailable, ImageMissing, SandboxClosed
from sandbox.result import ExecResult

#: Faults no tool call can repair: they end the step (and the runner decides about the run).
FATAL = (ScorerError, LLMError, BudgetExhausted, DockerUnavailable, ImageMissing, GpuUnavailable, SandboxClosed)
LIST_LIMIT = 400
ERROR_LIMIT = 2_000
#: ``run_shell``'s timeout may only lower the sandbox policy's deadline (SECURITY.md, item 15).
TIMEOUT_DESCRIPTION = ("seconds before the command is killed; it can only lower {limit} limit "
                       "(sandbox.timeout_s): a larger value is clamped to that limit")


class Shell(Protocol):
    """What ``run_shell`` needs of :class:`sandbox.Sandbox`."""

    def exec(self, cmd: list[str] | str, stdin: bytes | None = None, timeout_s: float | None = None) -> ExecResult: ...


class ToolArgs(BaseModel):
    """Base of the argument models; the docstring of each is the tool's description."""

    model_config = ConfigDict(extra="forbid")


class ListFiles(ToolArgs):
    """List the files of the workspace (or of a sub-directory), with sizes."""

    path: str = Field(default=".", description="directory relative to the workspace")


class ReadFile(ToolArgs):
    """Read a workspace file, optionally only lines start_line..end_line (1-based, inclusive)."""

    path: str = Field(description="file relative to the workspace")
    start_line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)


class WriteFile(ToolArgs):
    """Create or overwrite a workspace file with the given content."""

    path: str = Field(description="file relative to the workspace")
    content: str


class EditFile(ToolArgs):
    """Replace one exact occurrence of `search` with `replace` in a workspace file.
    The search text must occur exactly once (whitespace matters)."""

    path: str = Field(description="file relative to the workspace")
    search: str = Field(description="exact text to find; must be unique in the file")
    replace: str = Field(description="text to put in its place")


class RunShell(ToolArgs):
    """Run a shell command in a disposable sandbox container (no network), with the
    workspace mounted as the current directory. Use it to compile, test, profile."""

    command: str
    timeout_s: float | None = Field(default=None, gt=0, description=TIMEOUT_DESCRIPTION.format(limit="the sandbox's"))


class Evaluate(ToolArgs):
    """Score the current solution (its file, or every file of its folder) with the run's
    scoring function, in the sandbox: correctness first, then the metric of every benchmark
    configuration."""


class SearchKnowledge(ToolArgs):
    """Search the knowledge base (documentation, reference code) with BM25; returns
    file paths and line ranges to read."""

    query: str
    k: int = Field(default=5, ge=1, le=20, description="number of hits")


class ReadKnowledge(ToolArgs):
    """Read a knowledge base file, optionally only lines start_line..end_line."""

    path: str = Field(description="path as shown by search_knowledge or the index")
    start_line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)


class ViewLineage(ToolArgs):
    """Show every committed version with its score and commit message, and the
    recent failed attempts."""


class ShowVersion(ToolArgs):
    """Show a committed version's source, or (diff=true) its unified diff against the
    current solution (every changed file of a folder solution)."""

    version: int = Field(ge=0)
    diff: bool = False
    path: str | None = Field(default=None, description="only this file of a folder solution")


class Submit(ToolArgs):
    """Submit the current solution (its file, or every file of its folder) as this step's
    candidate and end the step. It is re-scored in a fresh container and committed only if
    it is correct and beats the best version."""

    rationale: str = Field(description="what changed and why it should be faster")


TOOLS: dict[str, type[ToolArgs]] = {
    "list_files": ListFiles,
    "read_file": ReadFile,
    "write_file": WriteFile,
    "edit_file": EditFile,
    "run_shell": RunShell,
    "evaluate": Evaluate,
    "search_knowledge": SearchKnowledge,
    "read_knowledge": ReadKnowledge,
    "view_lineage": ViewLineage,
    "show_version": ShowVersion,
    "submit": Submit,
}


class ToolOutcome(BaseModel):
    """The text returned to the model, and whether the call ended the step."""

    content: str
    is_error: bool = False
    submitted: bool = False
    source: str | None = None  # the candidate submitted, or the exact source an evaluation scored
    files: dict[str, str] | None = None  # with a folder solution, its files (source is the entry file)
    rationale: str = ""
    score: Score | None = None
    sandbox: ExecResult | None = None  # what the sandbox saw of a run_shell call (for the run log)


class ToolFailure(Exception):
    """A tool call the model can correct; its message becomes the error result."""


def tool_specs(shell_timeout_s: float | None = None) -> list[ToolSpec]:
    """The tools as the model sees them; with the sandbox's deadline, ``run_shell`` names it."""
    specs = [ToolSpec(name=name, description=_describe(model), parameters=_schema(model)) for name, model in TOOLS.items()]
    if shell_timeout_s is not None:
        timeout = next(s for s in specs if s.name == "run_shell").parameters["properties"]["timeout_s"]
        timeout["description"] = TIMEOUT_DESCRIPTION.format(limit=f"the sandbox's {shell_timeout_s:g} s")
    return specs


def _describe(model: type[ToolArgs]) -> str:
    return " ".join((model.__doc__ or "").split())


def _schema(model: type[ToolArgs]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


class Toolbox:
    """The tools bound to one variation step's work dir, sandbox, evaluator and lineage."""

    def __init__(
        self,
        *,
        work_dir: Path,
        solution_file: str,
        shell: Shell,
        evaluator: Evaluator,
        lineage: Lineage,
        knowledge: KnowledgeBase | None = None,
        output_limit: int = 12_000,
        layout: SolutionLayout | None = None,
        shell_timeout_s: float | None = None,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.solution_file = solution_file
        self.layout = layout or SolutionLayout(entry=solution_file)
        self.shell = shell
        self.evaluator = evaluator
        self.lineage = lineage
        self.knowledge = knowledge or KnowledgeBase.empty()
        self.output_limit = output_limit
        self.shell_timeout_s = shell_timeout_s
        self._handlers: dict[str, Callable[[Any], ToolOutcome | str]] = {
            name: getattr(self, f"_{name}") for name in TOOLS
        }

    def specs(self) -> list[ToolSpec]:
        return tool_specs(self.shell_timeout_s)

    def dispatch(self, call: ToolCall) -> ToolOutcome:
        """Validate and run one call; every mistake becomes an error result."""
        model = TOOLS.get(call.name)
        if model is None:
            return _error(f"unknown tool {call.name!r}; the tools are: {', '.join(TOOLS)}")
        if isinstance(call.arguments, str):
            return _error(
                f"the arguments of {call.name} are not a JSON object ({truncate_middle(call.arguments, 200)!r}); "
                "call it again with a JSON object matching its schema"
            )
        try:
            args = model.model_validate(call.arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return _error(f"invalid arguments for {call.name}: {problems}")
        try:
            result = self._handlers[call.name](args)
        except FATAL:
            raise
        except (ToolFailure, OSError, ValueError) as exc:
            return _error(str(exc) or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a tool's own fault must not end a week-long run
            return _error(f"{call.name} failed: {type(exc).__name__}: {exc}")
        outcome = result if isinstance(result, ToolOutcome) else ToolOutcome(content=result)
        outcome.content = truncate_middle(outcome.content, self.output_limit)
        return outcome

    def solution_source(self) -> str:
        """The current candidate's entry file (the solution file), read safely."""
        return self.candidate().source

    def candidate(self) -> Candidate:
        """The current candidate, read as the runner reads it: the solution file, or its folder's files."""
        try:
            return read_candidate(self.work_dir, self.layout)
        except FileNotFoundError as exc:
            raise ToolFailure(f"{self.layout.entry_path} does not exist in the workspace; write it first") from exc

    # --- file tools (host, confined to the work dir) ---

    def _list_files(self, args: ListFiles) -> str:
        entries = list_tree(self.work_dir, args.path, skip=SKIPPED_DIRS, limit=LIST_LIMIT + 1)
        lines = [f"{e.path} ({e.size} bytes)" if e.kind == "file" else
                 f"{e.path} -> (symlink)" if e.kind == "symlink" else
                 f"{e.path} (not a regular file: the file tools refuse it)" for e in entries[:LIST_LIMIT]]
        if len(entries) > LIST_LIMIT:
            lines.append(f"[... listing stopped at {LIST_LIMIT} entries ...]")
        return "\n".join(lines) or "(empty)"

    def _read_file(self, args: ReadFile) -> str:
        lines = read_text(self.work_dir, args.path, lenient=True).splitlines()
        if args.start_line is None and args.end_line is None:
            return f"{args.path} ({len(lines)} lines)\n" + "\n".join(lines)
        first = args.start_line or 1
        last = min(args.end_line or len(lines), len(lines))
        return f"{args.path} lines {first}-{last} of {len(lines)}\n" + "\n".join(lines[first - 1 : last])

    def _write_file(self, args: WriteFile) -> str:
        write_text(self.work_dir, args.path, args.content)
        return f"wrote {len(args.content.encode())} bytes ({len(args.content.splitlines())} lines) to {args.path}"

    def _edit_file(self, args: EditFile) -> str:
        if not args.search:
            raise ToolFailure("search text is empty; give the exact text to replace")
        text = read_text(self.work_dir, args.path)
        count = text.count(args.search)
        if count == 0:
            raise ToolFailure(
                f"search text not found in {args.path}; read_file it and copy the exact text (whitespace and indentation matter)"
            )
        if count > 1:
            lines = _occurrence_lines(text, args.search)
            raise ToolFailure(
                f"search text occurs {count} times in {args.path} (starting at lines {', '.join(map(str, lines))}); "
                "include more surrounding lines so it is unique"
            )
        write_text(self.work_dir, args.path, text.replace(args.search, args.replace, 1))
        line = text[: text.index(args.search)].count("\n") + 1
        return f"edited {args.path}: replaced {len(args.search.splitlines())} lines at line {line}"

    # --- sandboxed tools ---

    def _run_shell(self, args: RunShell) -> ToolOutcome:
        timeout, limit = args.timeout_s, self.shell_timeout_s
        clamped = timeout is not None and limit is not None and timeout > limit
        if clamped:
            timeout = limit
        result = self.shell.exec(args.command, timeout_s=timeout)
        status = f"exit code {result.exit_code}"
        if result.timed_out:
            status += " (timed out: the sandbox killed the command)"
        if result.oom_killed:
            status += " (killed: out of memory)"
        half = self.output_limit // 2
        parts = [f"{status}; {result.duration_s:.2f}s"]
        if clamped:
            parts.append(f"note: timeout_s={args.timeout_s:g} is above the sandbox's limit (sandbox.timeout_s); "
                         f"the command ran with {limit:g} s")
        for name, text, cut in (("stdout", result.stdout, result.stdout_truncated), ("stderr", result.stderr, result.stderr_truncated)):
            if text:
                note = " (cut by the sandbox's output limit)" if cut else ""
                parts.append(f"--- {name}{note} ---\n{truncate_middle(text, half)}")
        return ToolOutcome(content="\n".join(parts), sandbox=result)

    def _evaluate(self, args: Evaluate) -> ToolOutcome:
        candidate = self.candidate()
        best = self.lineage.best
        frozen = candidate_outside_change(best.candidate, candidate, self.layout.label) if best is not None else None
        if frozen:
            raise ToolFailure(f"not evaluated: {frozen} (show_version({best.version}, diff=true) shows your changes)")
        score = self.evaluator.evaluate(candidate.source, purpose="agent-evaluate", files=candidate.files or None,
                                        previous_best=best.score.values if best is not None else None)
        return ToolOutcome(content=format_score(score, self._configurations(), self.lineage), score=score,
                           source=candidate.source, files=candidate.files or None)

    def _configurations(self) -> list[str]:
        return self.lineage.configurations or self.evaluator.configurations()

    # --- knowledge and lineage ---

    def _search_knowledge(self, args: SearchKnowledge) -> str:
        if not self.knowledge:
            return "no knowledge base is configured for this run"
        hits = self.knowledge.search(args.query, args.k)
        if not hits:
            return f"no matches for {args.query!r}"
        per_hit = max(self.output_limit // max(len(hits), 1) - 200, 200)
        return "\n\n".join(
            f"[{n}] {h.path} lines {h.start_line}-{h.end_line} (score {h.score:.2f}) - {h.title}\n{truncate_middle(h.text, per_hit)}"
            for n, h in enumerate(hits, 1)
        )

    def _read_knowledge(self, args: ReadKnowledge) -> str:
        return self.knowledge.read(args.path, args.start_line, args.end_line)

    def _view_lineage(self, args: ViewLineage) -> str:
        configurations = self._configurations()
        best = self.lineage.best
        lines = [f"configurations: {', '.join(configurations) or '(unknown)'}", "versions:", versions_table(self.lineage, limit=100)]
        if best is not None:
            lines.append(f"best: v{best.version} ({per_configuration(best, configurations)})")
        lines += ["recent failed attempts:", attempts_table(self.lineage, limit=20)]
        return "\n".join(lines)

    def _show_version(self, args: ShowVersion) -> str:
        if args.version >= len(self.lineage.solutions):
            raise ToolFailure(f"no version v{args.version}; versions are v0..v{len(self.lineage.solutions) - 1}")
        solution = self.lineage.solutions[args.version]
        files = solution.files or {self.layout.entry: solution.source}
        if args.path is not None and args.path not in files:
            raise ToolFailure(f"v{solution.version} has no file {args.path!r}; its files: {', '.join(files)}")
        if args.diff:
            current = self.candidate()
            if args.path is not None:
                return unified_diff(files[args.path], current.files.get(args.path, current.source),
                                    f"v{solution.version}/{args.path}", f"{args.path} (current)")
            if not solution.files:
                return unified_diff(solution.source, current.source, f"v{solution.version}/{self.solution_file}",
                                    f"{self.solution_file} (current)")
            return candidate_diff(solution.candidate, current, f"v{solution.version}", "current",
                                  self.layout.label.rstrip("/"))
        shown = {args.path: files[args.path]} if args.path is not None else files
        header = f"v{solution.version} (aggregate {solution.aggregate:.6g})"
        if not solution.files:
            return f"{header} {self.solution_file}:\n{solution.source}"
        return "\n".join([header] + [f"--- {self.layout.label}{path} ---\n{text}" for path, text in shown.items()])

    def _submit(self, args: Submit) -> ToolOutcome:
        candidate = self.candidate()
        if not candidate.source.strip():
            raise ToolFailure(f"{self.layout.entry_path} is empty; write the candidate before submitting")
        return ToolOutcome(content="submitted", submitted=True, source=candidate.source,
                           files=candidate.files or None, rationale=args.rationale)


def format_score(score: Score, configurations: list[str], lineage: Lineage) -> str:
    """An evaluation as the model reads it: correctness, every configuration, the aggregate vs the best."""
    lines = [f"correct: {'yes' if score.passes_correctness else 'NO'}"]
    if score.correctness_message:
        lines.append(f"correctness: {score.correctness_message}")
    if score.error:
        lines.append(f"error:\n{score.error}")
    failed = set(score.failed_configurations(configurations))
    for name in configurations:
        value = score.values.get(name)
        shown = "missing" if value is None else f"{value:.6g}"
        lines.append(f"  {name}: {shown}{' FAILED' if name in failed else ''}")
    aggregate = score.aggregate(configurations)
    lines.append(f"aggregate (geometric mean over {len(configurations)} configurations): {aggregate:.6g}")
    best = lineage.best
    if best is not None and best.aggregate > 0:
        lines.append(f"best committed: v{best.version} aggregate {best.aggregate:.6g} (this is {(aggregate / best.aggregate - 1) * 100:+.1f}%)")
    if score.duration_s is not None:
        lines.append(f"evaluation took {score.duration_s:.1f}s")
    lines += [f"--- {name} ---\n{text}" for name, text in score.artifacts.items()]
    return "\n".join(lines)


def _occurrence_lines(text: str, search: str) -> list[int]:
    lines, start = [], text.find(search)
    while start != -1 and len(lines) < 10:
        lines.append(text.count("\n", 0, start) + 1)
        start = text.find(search, start + 1)
    return lines


def _error(message: str) -> ToolOutcome:
    """An error result, kept short: a message may quote what the model sent (a 100 kB path)."""
    return ToolOutcome(content=f"error: {truncate_middle(message, ERROR_LIMIT)}", is_error=True)
