"""A run killed between any two of its actions resumes with no version lost or duplicated.

The kill is simulated by an exception that nothing in avo catches (BaseException)
raised at the k-th run-log event, and from then on at every event, so no clean-up
can write anything either: what is on disk is what a SIGKILL would leave.
"""

from __future__ import annotations

import pytest

from fakes import FakeEvaluator, ScriptedOperator, program
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.core.run_log import RunLog, read_events
from orchestrator.persistence.git_backend import GitLineageStore
from orchestrator.persistence.store import open_store

PLAN = [program(2.0), None, program(3.0), "BROKEN\n", program(4.0)]
EVENTS_IN_A_FULL_RUN = 24


class SimulatedKill(BaseException):
    pass


def kill_at(monkeypatch, k: int) -> None:
    original = RunLog.emit
    count = {"n": 0}

    def emit(self, kind, **data):
        count["n"] += 1
        if count["n"] >= k:
            raise SimulatedKill(f"killed at event {k}")
        return original(self, kind, **data)

    monkeypatch.setattr(RunLog, "emit", emit)


def check_lineage(config) -> None:
    lineage = open_store(config).load()
    assert [s.version for s in lineage.solutions] == list(range(len(lineage.solutions)))
    aggregates = [s.aggregate for s in lineage.solutions]
    assert aggregates == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert len({s.source for s in lineage.solutions}) == len(lineage.solutions)
    committed = {(e["version"], e["commit"]) for e in read_events(config.run_log_path, "commit")}
    assert committed <= {(s.version, s.commit) for s in lineage.solutions}
    if config.git_persist:
        import git

        repo = git.Repo(config.lineage_dir)
        assert sorted(t.name for t in repo.tags) == [f"v{i}" for i in range(4)]
        assert {t.name: t.commit.hexsha for t in repo.tags} == {f"v{s.version}": s.commit for s in lineage.solutions}


@pytest.mark.parametrize("git_persist", [True, False])
@pytest.mark.parametrize("k", range(1, EVENTS_IN_A_FULL_RUN + 1))
def test_resume_after_kill_at_any_event(make_config, monkeypatch, k, git_persist):
    config = make_config(git_persist=git_persist)
    with monkeypatch.context() as patch:
        kill_at(patch, k)
        with pytest.raises(SimulatedKill):
            EvolutionRunner(config, operator=ScriptedOperator(list(PLAN)), evaluator=FakeEvaluator()).run()
    resume = open_store(config).exists()
    EvolutionRunner(config, operator=ScriptedOperator(list(PLAN)), evaluator=FakeEvaluator(), resume=resume).run()
    check_lineage(config)


def test_a_full_run_has_the_events_the_kill_points_cover(make_config):
    config = make_config()
    EvolutionRunner(config, operator=ScriptedOperator(list(PLAN)), evaluator=FakeEvaluator()).run()
    assert len(list(read_events(config.run_log_path))) == EVENTS_IN_A_FULL_RUN
    check_lineage(config)


def test_kill_between_commit_and_tag_is_repaired(make_config, monkeypatch):
    config = make_config()
    original = GitLineageStore._tag

    def tag(repo, version, commit):
        if version == 2:
            raise SimulatedKill("killed between commit and tag")
        original(repo, version, commit)

    with monkeypatch.context() as patch:
        patch.setattr(GitLineageStore, "_tag", staticmethod(tag))
        with pytest.raises(SimulatedKill):
            EvolutionRunner(config, operator=ScriptedOperator(list(PLAN)), evaluator=FakeEvaluator()).run()
    (config.lineage_dir / ".git" / "index.lock").write_text("")  # as a kill inside a commit leaves it
    EvolutionRunner(config, operator=ScriptedOperator(list(PLAN)), evaluator=FakeEvaluator(), resume=True).run()
    check_lineage(config)
