"""The agent's shell and scoring go to real containers: nothing it runs executes on the host.

Uses the real Sandbox (Docker) and, for a whole step, the real SandboxEvaluator with a
tiny scorer; the model is the scripted server behind the real OpenAI SDK.
"""

from __future__ import annotations


import pytest

from agent_fakes import llm_config, make_context, make_lineage
from orchestrator.agent.factory import build_client
from orchestrator.agent.messages import ToolCall
from orchestrator.agent.tools import Toolbox
from orchestrator.agent.variation_operator import AgentVariationOperator
from orchestrator.config import EvolutionConfig
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator
from sandbox import Sandbox, SandboxPolicy
from scripted_llm_server import call

pytestmark = pytest.mark.docker

SCORER = '''
import importlib.util
from orchestrator.scoring.score import Score, ScoringFunction


class Scorer(ScoringFunction):
    def evaluate(self, source_code, source_file="solution.py"):
        spec = importlib.util.spec_from_file_location("candidate", source_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.solve([3, 1, 2]) != [1, 2, 3]:
            return Score.failure("solve([3, 1, 2]) is not [1, 2, 3]")
        return Score(values={"tiny": float(module.SPEED)}, passes_correctness=True)

    def get_configurations(self):
        return ["tiny"]

    def get_scoring_context(self):
        return "solve(xs) must return xs sorted; SPEED is the metric."
'''
SEED = "SPEED = 1.0\n\ndef solve(xs):\n    return sorted(xs)\n"


@pytest.fixture
def policy(docker_available, sandbox_image) -> SandboxPolicy:
    return SandboxPolicy(image=sandbox_image, timeout_s=60)


def test_run_shell_runs_in_a_container_that_cannot_see_the_host(policy, tmp_path, work_dir) -> None:
    secret = tmp_path / "host_secret.txt"
    secret.write_text("host-only-secret")
    with Sandbox(policy, work_dir, run_id="agent-tools-test", purpose="shell") as shell:
        toolbox = Toolbox(work_dir=work_dir, solution_file="solution.py", shell=shell, evaluator=None,  # type: ignore[arg-type]
                          lineage=make_lineage())
        toolbox.dispatch(ToolCall(id="w", name="write_file", arguments={"path": "marker.txt", "content": "in-workspace"}))
        command = (f"pwd; cat marker.txt; echo; cat {secret} || echo NO_HOST_FILE; "
                   "test -f /.dockerenv && echo IN_CONTAINER; echo made-inside > made.txt")
        outcome = toolbox.dispatch(ToolCall(id="s", name="run_shell", arguments={"command": command}))
        assert not outcome.is_error, outcome.content
        assert "exit code 0" in outcome.content
        assert "/workspace" in outcome.content and "in-workspace" in outcome.content
        assert "NO_HOST_FILE" in outcome.content and "IN_CONTAINER" in outcome.content
        assert "host-only-secret" not in outcome.content
        assert (work_dir / "made.txt").read_text() == "made-inside\n"

        slow = toolbox.dispatch(ToolCall(id="t", name="run_shell", arguments={"command": "sleep 30", "timeout_s": 1}))
        assert "timed out" in slow.content


def test_whole_step_with_the_real_sandbox_evaluator(policy, llm_server, tmp_path, run_log) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "scorer.py").write_text(SCORER)
    (project / "seed.py").write_text(SEED)
    config = EvolutionConfig(seed_file=project / "seed.py", scoring_module=project / "scorer.py",
                             workspace_dir=tmp_path / "ws", sandbox=policy)
    work = config.workspace_dir / "work"
    work.mkdir(parents=True)
    (work / "solution.py").write_text(SEED)
    llm_server.script(
        call("write_file", {"path": "solution.py", "content": SEED.replace("sorted(xs)", "xs").replace("1.0", "3.0")}),
        call("evaluate"),
        call("edit_file", {"path": "solution.py", "search": "return xs", "replace": "return sorted(xs)"}),
        call("evaluate"),
        call("submit", {"rationale": "faster and still sorted"}),
    )
    evaluator = SandboxEvaluator(config, "agent-step-test", run_log)
    try:
        with Sandbox(policy, work, run_id="agent-step-test", purpose="shell") as shell:
            client = build_client(llm_config(base_url=llm_server.openai_base_url))
            operator = AgentVariationOperator(client, shell=shell, run_log=run_log)
            result = operator.vary(make_context(work, run_log, evaluator, lineage=make_lineage(SEED, configurations=["tiny"])))
    finally:
        evaluator.close()

    assert result.submitted and "SPEED = 3.0" in result.source
    failing, passing = (r.body["messages"][-1]["content"] for r in llm_server.requests[2:5:2])
    assert "correct: NO" in failing and "is not [1, 2, 3]" in failing
    assert "correct: yes" in passing and "tiny: 3" in passing
    assert "SPEED is the metric" in llm_server.requests[0].body["messages"][0]["content"]


def test_replay_drives_a_whole_run(policy, tmp_path) -> None:
    import yaml

    from orchestrator.core.evolution import EvolutionRunner
    from orchestrator.core.run_log import read_events

    project = tmp_path / "project"
    project.mkdir()
    (project / "scorer.py").write_text(SCORER)
    (project / "seed.py").write_text(SEED)
    faster = SEED.replace("1.0", "3.0")
    (project / "transcript.yaml").write_text(yaml.safe_dump({
        "turns": [
            {"text": "Declare more speed.", "tool_calls": [
                {"name": "write_file", "arguments": {"path": "solution.py", "content": faster}},
                {"name": "evaluate", "arguments": {}}]},
            {"tool_calls": [{"name": "submit", "arguments": {"rationale": "speed 3"}}]},
            {"tool_calls": [{"name": "edit_file", "arguments": {"path": "solution.py", "search": "sorted(xs)", "replace": "xs"}},
                            {"name": "submit", "arguments": {"rationale": "skip sorting"}}]},
        ],
        "replies": ["TRIED:\n- skipping the sort\nNEXT:\n- a real algorithm"],
    }))
    config = EvolutionConfig(
        seed_file=project / "seed.py", scoring_module=project / "scorer.py", workspace_dir=tmp_path / "ws",
        sandbox=policy, llm={"provider": "replay", "replay_file": project / "transcript.yaml"},
        supervisor={"max_failed_attempts": 1},
    )
    results = EvolutionRunner(config).run()

    assert results.stop_reason == "replay finished"
    assert (results.best_version, results.failures) == (1, 1)
    assert results.best_aggregate == pytest.approx(3.0)
    events = list(read_events(config.run_log_path))
    kinds = [e["kind"] for e in events]
    assert "commit" in kinds and "rejection" in kinds
    supervisor = [e for e in events if e["kind"] == "supervisor" and "llm" in e]
    assert supervisor and supervisor[0]["llm"].startswith("[replay]") and supervisor[0]["tried"] == ["skipping the sort"]
    assert all(e["llm"].startswith("[replay]") for e in events if e["kind"] == "agent_turn")
    assert (config.work_dir / "solution.py").read_text() == faster
