"""Fuzzing what the model sends: every tool's arguments, and malformed tool calls.

Whatever the model sends (wrong types, huge strings, NUL bytes, absolute paths, `..`,
unicode look-alikes of `.` and `/`, arguments that are not JSON objects, unknown
tools), the tool call is answered and the step goes on: nothing raises, and nothing is
written outside the work dir. The run_shell tool's sandbox is a recorder here (each
call would otherwise start a container; the sandbox has its own attack tests).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_fakes import SEED, FakeEvaluator, llm_config, make_context, make_lineage
from orchestrator.agent.factory import build_client
from orchestrator.agent.knowledge_base import KnowledgeBase
from orchestrator.agent.messages import ToolCall
from orchestrator.agent.tools import TOOLS, Toolbox
from orchestrator.agent.variation_operator import AgentVariationOperator
from orchestrator.core.run_log import RunLog, read_events
from runtimes import IN_CI
from sandbox.result import ExecResult
from scripted_llm_server import Reply, ScriptedLLMServer, say

#: Paths a hostile or confused model tries: escapes, look-alikes of '.' and '/', NULs, home, Windows forms.
HOSTILE_PATHS = [
    "..", "../x", "../../etc/passwd", "/etc/passwd", "/", "", ".", "a/../../b", "\x00", "solution.py\x00.txt",
    "~", "~/.ssh/id_rsa", "\u2024\u2024/outside", "\uff0e\uff0e/outside", "..\uff0foutside", "\u2025/outside",
    "solution.py/..", "/workspace/solution.py", "sub/../../outside", "C:\\Windows\\system32", "\\\\server\\share",
    "..\\outside", "lineage/../../outside", " ../outside", "./../outside", "\u202e../outside", "%2e%2e/outside",
]
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(HOSTILE_PATHS),
    st.text(max_size=20).map(lambda tail: "../" + tail),
    st.integers(1_000, 200_000).map(lambda n: "x" * n),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def well_typed(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a field's own type (strings hostile), so calls get past validation into the tools."""
    text = str(annotation)
    if "bool" in text:
        return st.booleans()
    if "int" in text:
        return st.integers(-3, 10**7)
    if "float" in text:
        return st.floats(min_value=1e-3, max_value=1e6) | st.sampled_from([3600.0, 1e9])
    return TEXT


@st.composite
def tool_calls(draw: st.DrawFn) -> ToolCall:
    """A call of a real tool: usually well typed (hostile strings), sometimes with anything in its
    fields or an extra key; or arguments that are not an object; or a tool that does not exist."""
    name = draw(st.sampled_from([*TOOLS, "rm_rf", "", "submit ", "../write_file"]))
    model = TOOLS.get(name)
    fields = model.model_fields if model else {}
    typed = draw(st.integers(0, 3)) > 0
    arguments: dict[str, Any] | str = {
        key: draw(well_typed(field.annotation) if typed else JSON_VALUE)
        for key, field in fields.items() if field.is_required() or draw(st.booleans())
    }
    if draw(st.integers(0, 9)) == 0:
        arguments = draw(st.one_of(TEXT, st.just("{\"path\": "), st.just("[1, 2]"), st.just("null")))
    elif isinstance(arguments, dict) and draw(st.integers(0, 9)) == 0:
        arguments[draw(st.text(max_size=8))] = draw(JSON_VALUE)
    return ToolCall(id="call-1", name=name, arguments=arguments)


class RecordingShell:
    """Stands in for the sandbox: records each command, runs nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, float | None]] = []

    def exec(self, cmd: Any, stdin: bytes | None = None, timeout_s: float | None = None) -> ExecResult:
        self.calls.append((cmd, timeout_s))
        return ExecResult(exit_code=0, stdout="ok\n", stderr="", duration_s=0.01)


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every entry under ``root`` outside ``skip``, links not followed."""
    found = {}
    for current, dirs, files in os.walk(root):
        here = Path(current)
        if here == skip or skip in here.parents:
            continue
        for name in dirs + files:
            if here / name != skip:  # its own mtime changes with what is written inside
                stat = (here / name).lstat()
                found[str(here / name)] = (stat.st_size, stat.st_mtime_ns)
    return found


def project_dirs(base: Path) -> tuple[Path, Path]:
    """A work dir with the seed, a symlink out and a subfolder, beside a lineage and a secret."""
    work, knowledge = base / "workspace" / "work", base / "knowledge"
    (work / "sub").mkdir(parents=True)
    (work / "solution.py").write_text(SEED)
    (work / "escape").symlink_to(base)
    (base / "workspace" / "lineage").mkdir()
    (base / "secret.env").write_text("API_KEY=sk-do-not-leak\n")
    knowledge.mkdir()
    (knowledge / "notes.md").write_text("# Sorting\nInsertion sort is linear on sorted input.\n")
    return work, knowledge


# derandomize=IN_CI: CI explores the same examples on every run (a red CI is then a change, not luck); elsewhere they vary.
@settings(max_examples=200, deadline=None, derandomize=IN_CI, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(tool_calls(), min_size=1, max_size=4))
def test_any_tool_call_is_answered_and_writes_only_inside_the_work_dir(calls: list[ToolCall]) -> None:
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        work, knowledge = project_dirs(base)
        before = snapshot(base, work)
        shell = RecordingShell()
        toolbox = Toolbox(work_dir=work, solution_file="solution.py", shell=shell, evaluator=FakeEvaluator(),
                          lineage=make_lineage(), knowledge=KnowledgeBase.load(knowledge), shell_timeout_s=5.0)
        for call in calls:
            outcome = toolbox.dispatch(call)
            assert isinstance(outcome.content, str) and len(outcome.content) <= 12_000 + 200
            json.dumps(outcome.model_dump(exclude={"score"}), ensure_ascii=False)
        assert snapshot(base, work) == before
        assert all(timeout is None or timeout <= 5.0 for _, timeout in shell.calls)


def raw_call(name: str, arguments: str) -> Reply:
    """A turn whose one tool call carries ``arguments`` verbatim (the wire allows any string)."""
    return Reply(tool_calls=[(name, arguments)])


MALFORMED_ARGUMENTS = st.one_of(
    st.just("{\"path\": "), st.just("null"), st.just("[]"), st.just("\"solution.py\""), st.just("{}}"),
    st.just("{\"path\": \"\\u0000\"}"), st.just("{\"path\": \"\\ud800\", \"content\": \"\\udfff\"}"),
    st.just("{\"command\": 123, \"timeout_s\": -1}"), st.just("{\"timeout_s\": 1e309, \"command\": \"true\"}"),
    JSON_VALUE.map(lambda value: json.dumps(value, allow_nan=True)),
    st.text(max_size=60),
)


@settings(max_examples=25, deadline=None, derandomize=IN_CI, suppress_health_check=[HealthCheck.too_slow])
@given(turns=st.lists(st.tuples(st.sampled_from([*TOOLS, "no_such_tool", ""]), MALFORMED_ARGUMENTS),
                      min_size=1, max_size=4))
def test_malformed_tool_calls_through_the_real_sdk_never_end_the_step(turns: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as temp, tempfile.TemporaryDirectory() as logs, ScriptedLLMServer() as server:
        base = Path(temp)
        work, knowledge = project_dirs(base)
        before = snapshot(base, work)
        server.script(*[raw_call(name, arguments) for name, arguments in turns], say("giving up"), say("still no"))
        run_log = RunLog(Path(logs) / "events.jsonl", "run-fuzz")
        client = build_client(llm_config(base_url=server.openai_base_url, max_retries=0), run_log=run_log)
        operator = AgentVariationOperator(client, shell=RecordingShell(), run_log=run_log,
                                          knowledge=KnowledgeBase.load(knowledge), shell_timeout_s=5.0)
        result = operator.vary(make_context(work, run_log, FakeEvaluator()))
        assert result.model_turns == len(turns) + 2 or result.submitted
        assert snapshot(base, work) == before
        assert {e["kind"] for e in read_events(run_log.path)} >= {"agent_step_start", "agent_turn"}
