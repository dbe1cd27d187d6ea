"""Tool dispatch: validation, path confinement, edits, lineage views, bounded output."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent_fakes import SEED, FakeEvaluator, NoShell, make_lineage
from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.messages import ToolCall
from orchestrator.agent.tools import TOOLS, Toolbox, tool_specs
from orchestrator.agent.truncation import truncate_middle
from orchestrator.errors import ScorerError

V1 = SEED.replace("SPEED = 1.0", "SPEED = 2.0")


@pytest.fixture
def toolbox(work_dir: Path) -> Toolbox:
    return Toolbox(work_dir=work_dir, solution_file="solution.py", shell=NoShell(), evaluator=FakeEvaluator(),
                   lineage=make_lineage(SEED, V1, attempts=2), output_limit=2000)


def run(toolbox: Toolbox, name: str, arguments: dict | str | None = None):
    return toolbox.dispatch(ToolCall(id="t", name=name, arguments={} if arguments is None else arguments))


def test_tool_names_and_schemas_are_the_interface() -> None:
    assert list(TOOLS) == ["list_files", "read_file", "write_file", "edit_file", "run_shell", "evaluate",
                           "search_knowledge", "read_knowledge", "view_lineage", "show_version", "submit"]
    specs = {s.name: s for s in tool_specs()}
    assert specs["edit_file"].parameters["required"] == ["path", "search", "replace"]
    assert specs["evaluate"].parameters == {"additionalProperties": False, "properties": {}, "type": "object"}
    assert all(s.description for s in specs.values())


def test_unknown_tool_and_bad_arguments_become_error_results(toolbox: Toolbox) -> None:
    unknown = run(toolbox, "rm_rf", {})
    assert unknown.is_error and "unknown tool 'rm_rf'" in unknown.content and "write_file" in unknown.content
    malformed = run(toolbox, "write_file", '{"path": "a.py", "content": ')
    assert malformed.is_error and "not a JSON object" in malformed.content
    missing = run(toolbox, "edit_file", {"path": "solution.py"})
    assert missing.is_error and "search: Field required" in missing.content
    extra = run(toolbox, "read_file", {"path": "solution.py", "mode": "rb"})
    assert extra.is_error and "mode" in extra.content


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "sub/../../outside.txt", "~/x", "C:\\x"])
def test_paths_outside_the_workspace_are_refused(toolbox: Toolbox, path: str) -> None:
    for name, args in (("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"})):
        outcome = run(toolbox, name, args)
        assert outcome.is_error, (name, path)
    assert not (toolbox.work_dir.parent / "outside.txt").exists()


def test_symlinks_leading_outside_are_refused(toolbox: Toolbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    (toolbox.work_dir / "link.txt").symlink_to(secret)
    (toolbox.work_dir / "linkdir").symlink_to(tmp_path)
    for args in ({"path": "link.txt"}, {"path": "linkdir/secret.txt"}):
        outcome = run(toolbox, "read_file", args)
        assert outcome.is_error and "symlink; refused" in outcome.content
        assert "host secret" not in outcome.content
    assert run(toolbox, "write_file", {"path": "linkdir/new.txt", "content": "x"}).is_error
    assert run(toolbox, "list_files", {"path": "linkdir"}).is_error
    assert not (tmp_path / "new.txt").exists()
    assert secret.read_text() == "host secret"


def test_writing_through_a_symlink_inside_is_refused(toolbox: Toolbox) -> None:
    (toolbox.work_dir / "alias.py").symlink_to(toolbox.work_dir / "solution.py")
    outcome = run(toolbox, "write_file", {"path": "alias.py", "content": "clobbered"})
    assert outcome.is_error and "symlink" in outcome.content
    assert (toolbox.work_dir / "solution.py").read_text() == SEED


def test_write_read_list(toolbox: Toolbox) -> None:
    assert "wrote" in run(toolbox, "write_file", {"path": "scratch/notes.txt", "content": "a\nb\nc\n"}).content
    assert run(toolbox, "read_file", {"path": "scratch/notes.txt", "start_line": 2, "end_line": 3}).content == (
        "scratch/notes.txt lines 2-3 of 3\nb\nc"
    )
    listing = run(toolbox, "list_files").content
    assert "solution.py (" in listing and "scratch/notes.txt (6 bytes)" in listing
    assert run(toolbox, "read_file", {"path": "nope.py"}).is_error


def test_file_tools_refuse_a_fifo_at_once(toolbox: Toolbox) -> None:
    os.mkfifo(toolbox.work_dir / "pipe.txt")
    started = time.monotonic()
    for name, args in (("write_file", {"path": "pipe.txt", "content": "x"}), ("read_file", {"path": "pipe.txt"}),
                       ("edit_file", {"path": "pipe.txt", "search": "a", "replace": "b"})):
        outcome = run(toolbox, name, args)
        assert outcome.is_error and "FIFO" in outcome.content, (name, outcome.content)
    assert time.monotonic() - started < 1.0
    assert "pipe.txt (not a regular file" in run(toolbox, "list_files").content


def test_edit_file_exact_unique_replacement(toolbox: Toolbox) -> None:
    ok = run(toolbox, "edit_file", {"path": "solution.py", "search": "SPEED = 1.0", "replace": "SPEED = 3.0"})
    assert not ok.is_error and "line 1" in ok.content
    assert (toolbox.work_dir / "solution.py").read_text().startswith("SPEED = 3.0")
    missing = run(toolbox, "edit_file", {"path": "solution.py", "search": "SPEED=3.0", "replace": "x"})
    assert missing.is_error and "not found" in missing.content
    (toolbox.work_dir / "dup.py").write_text("x = 1\ny = 2\nx = 1\n")
    ambiguous = run(toolbox, "edit_file", {"path": "dup.py", "search": "x = 1", "replace": "x = 9"})
    assert ambiguous.is_error and "2 times" in ambiguous.content and "lines 1, 3" in ambiguous.content
    assert (toolbox.work_dir / "dup.py").read_text() == "x = 1\ny = 2\nx = 1\n"


def test_evaluate_reports_each_configuration_and_the_gap_to_best(toolbox: Toolbox) -> None:
    (toolbox.work_dir / "solution.py").write_text(SEED.replace("SPEED = 1.0", "SPEED = 3.0"))
    good = run(toolbox, "evaluate")
    assert "correct: yes" in good.content and "small: 3" in good.content and "large: 3" in good.content
    assert "best committed: v1 aggregate 2 (this is +50.0%)" in good.content
    assert toolbox.evaluator.calls[-1][1] == "agent-evaluate"
    (toolbox.work_dir / "solution.py").write_text("def solve(xs):\n    return xs\n")
    bad = run(toolbox, "evaluate")
    assert "correct: NO" in bad.content and "AssertionError" in bad.content and "small: missing FAILED" in bad.content


def test_lineage_views(toolbox: Toolbox) -> None:
    lineage = run(toolbox, "view_lineage").content
    assert "v0: aggregate 1" in lineage and "v1: aggregate 2 (+100.0% vs v0) - version 1" in lineage
    assert "step 1: incorrect" in lineage and "tried idea 1" in lineage
    assert run(toolbox, "show_version", {"version": 1}).content.endswith(V1)
    diff = run(toolbox, "show_version", {"version": 1, "diff": True}).content
    assert "-SPEED = 2.0" in diff and "+SPEED = 1.0" in diff and "--- v1/solution.py" in diff
    assert run(toolbox, "show_version", {"version": 7}).is_error


def test_submit_takes_the_solution_file(toolbox: Toolbox) -> None:
    outcome = run(toolbox, "submit", {"rationale": "faster"})
    assert outcome.submitted and outcome.source == SEED and outcome.rationale == "faster"
    (toolbox.work_dir / "solution.py").write_text("  \n")
    assert run(toolbox, "submit", {"rationale": "x"}).is_error


def test_long_outputs_keep_head_and_tail(toolbox: Toolbox) -> None:
    body = "HEAD\n" + "x" * 10_000 + "\nTAIL"
    (toolbox.work_dir / "big.txt").write_text(body)
    content = run(toolbox, "read_file", {"path": "big.txt"}).content
    assert len(content) <= 2000 and "HEAD" in content and content.endswith("TAIL") and "characters omitted" in content
    assert truncate_middle("short", 10) == "short"


def test_knowledge_tools(work_dir: Path, tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "radix.md").write_text("# Radix sort\n\nRadix sort processes digits.\n")
    toolbox = Toolbox(work_dir=work_dir, solution_file="solution.py", shell=NoShell(), evaluator=FakeEvaluator(),
                      lineage=make_lineage(), knowledge=KnowledgeBase.load(kb_dir))
    hits = run(toolbox, "search_knowledge", {"query": "radix digits"}).content
    assert "radix.md lines 1-3" in hits
    assert "Radix sort processes digits." in run(toolbox, "read_knowledge", {"path": "radix.md", "start_line": 3}).content
    assert run(toolbox, "read_knowledge", {"path": "../workspace/work/solution.py"}).is_error
    empty = Toolbox(work_dir=work_dir, solution_file="solution.py", shell=NoShell(), evaluator=FakeEvaluator(),
                    lineage=make_lineage())
    assert "no knowledge base" in run(empty, "search_knowledge", {"query": "x"}).content


class BrokenEvaluator(FakeEvaluator):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def evaluate(self, source_code: str, *, purpose: str = "evaluate", previous_best=None, files=None):
        raise self.exc


def test_tool_faults_become_results_but_a_broken_scorer_ends_the_step(work_dir: Path) -> None:
    def box(exc: Exception) -> Toolbox:
        return Toolbox(work_dir=work_dir, solution_file="solution.py", shell=NoShell(),
                       evaluator=BrokenEvaluator(exc), lineage=make_lineage())

    outcome = run(box(RuntimeError("flaky")), "evaluate")
    assert outcome.is_error and "RuntimeError: flaky" in outcome.content
    with pytest.raises(ScorerError):
        run(box(ScorerError("scorer.py does not import")), "evaluate")
