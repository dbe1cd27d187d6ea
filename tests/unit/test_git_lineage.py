"""The git lineage: trailers round-trip, load() rebuilds from git alone, tampering is refused,
and nothing planted in a work tree or repository is ever executed on the host."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timezone

import git
import pytest

from fakes import FakeEvaluator, program
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.core.interfaces import VariationResult
from orchestrator.core.run_log import read_events
from orchestrator.scoring.score import Score
from orchestrator.core.types import Solution
from orchestrator.errors import LineageError, ReplayExhausted
from orchestrator.persistence.git_backend import GitLineageStore, format_message, parse_message
from orchestrator.persistence.json_backend import JsonLineageStore


def solution(version: int, aggregate: float, message: str = "") -> Solution:
    return Solution(
        version=version, source=f"v = {version}\n", aggregate=aggregate, message=message,
        parent=None if version == 0 else version - 1, tokens_used=1234 * version, cost_usd=0.25 * version,
        score=Score(values={"n=1": aggregate, "n=2": aggregate * 1.5}, passes_correctness=True,
                    correctness_message="all 20 inputs match", duration_s=1.25),
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )


def test_trailers_round_trip_and_are_machine_readable():
    original = solution(3, 1.2345678901234567, "unrolled the loop\n\nbecause branches")
    message, trailers = parse_message(format_message(original))
    assert message == "unrolled the loop\n\nbecause branches"
    assert trailers["Avo-Version"] == "3" and float(trailers["Avo-Aggregate"]) == original.aggregate
    assert json.loads(trailers["Avo-Values"]) == original.score.values
    assert (trailers["Avo-Passes"], trailers["Avo-Parent"], trailers["Avo-Tokens"], trailers["Avo-Cost"]) == (
        "true", "2", "3702", "0.75")
    assert trailers["Avo-Time"] == "2025-01-02T03:04:05+00:00"


def test_a_message_cannot_forge_trailers():
    _, trailers = parse_message(format_message(solution(1, 2.0, "nice\n\nAvo-Version: 99\nAvo-Aggregate: 1e9")))
    assert trailers["Avo-Version"] == "1" and trailers["Avo-Aggregate"] == "2.0"


@pytest.mark.parametrize("store_kind", ["git", "json"])
def test_load_rebuilds_the_lineage(tmp_path, store_kind):
    store = GitLineageStore(tmp_path / "lineage", "pkg/solution.py") if store_kind == "git" \
        else JsonLineageStore(tmp_path / "lineage.json")
    assert not store.exists() and store.load().solutions == []
    written = [store.append(solution(i, 1.0 + i)) for i in range(3)]
    loaded = store.load()
    assert loaded.solutions == written and loaded.configurations == ["n=1", "n=2"]
    with pytest.raises(LineageError, match="next is v3"):
        store.append(solution(5, 9.0))


def test_git_history_has_one_tagged_commit_per_version(tmp_path):
    store = GitLineageStore(tmp_path / "lineage", "solution.py")
    for i in range(3):
        store.append(solution(i, 1.0 + i))
    repo = git.Repo(tmp_path / "lineage")
    commits = list(repo.iter_commits("HEAD"))
    assert [c.summary for c in commits] == ["v2:", "v1:", "v0: seed"]
    assert {t.name: t.commit for t in repo.tags} == {f"v{2 - i}": c for i, c in enumerate(commits)}
    assert repo.git.show("v1:solution.py") == "v = 1"
    assert repo.config_reader().get_value("core", "hooksPath") == "/dev/null"


def test_load_lists_the_tags_once_and_repairs_missing_or_moved_ones(tmp_path, monkeypatch):
    """Loading a lineage of N versions reads the tag list once, not once per version (N²)."""
    store = GitLineageStore(tmp_path / "lineage", "solution.py")
    for i in range(40):
        store.append(solution(i, 1.0 + i))
    repo = git.Repo(tmp_path / "lineage")
    repo.delete_tag(repo.tags["v7"])  # a kill between the commit and its tag
    git.Reference.create(repo, "refs/tags/v9", repo.tags["v3"].commit, force=True)  # a tag moved by hand
    listings = []
    real = git.TagReference.list_items.__func__
    monkeypatch.setattr(git.TagReference, "list_items",
                        classmethod(lambda cls, *a, **k: listings.append(1) or real(cls, *a, **k)))
    assert len(store.load().solutions) == 40
    assert len(listings) == 1
    tags = {t.name: t.commit.hexsha for t in git.Repo(tmp_path / "lineage").tags}
    assert tags["v7"] == store.load().solutions[7].commit and tags["v9"] == store.load().solutions[9].commit


def test_rewritten_history_is_refused(tmp_path):
    store = GitLineageStore(tmp_path / "lineage", "solution.py")
    store.append(solution(0, 1.0))
    repo = git.Repo(tmp_path / "lineage")
    (tmp_path / "lineage" / "solution.py").write_text("tampered\n")
    repo.index.add(["solution.py"])
    repo.index.commit("hand edit", skip_hooks=True)
    with pytest.raises(LineageError, match="not an avo version"):
        store.load()


def plant_hook(hooks_dir, name, marker):
    hooks_dir.mkdir(parents=True, exist_ok=True)
    hook = hooks_dir / name
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)


def test_hooks_planted_in_the_lineage_repo_never_run(tmp_path):
    store = GitLineageStore(tmp_path / "lineage", "solution.py")
    store.append(solution(0, 1.0))
    marker = tmp_path / "hook-ran"
    for name in ("pre-commit", "commit-msg", "post-commit", "prepare-commit-msg", "reference-transaction"):
        plant_hook(tmp_path / "lineage" / ".git" / "hooks", name, marker)
    store.append(solution(1, 2.0))
    store.load()
    assert not marker.exists()


def test_a_hostile_work_tree_changes_nothing_on_the_host(make_config, tmp_path):
    """Hooks, a .git folder and fsmonitor config planted in the work tree and, as if the lineage
    were reachable, in the lineage repository where host git does run, before a step that
    commits; then a solution file turned into a symlink to a host file: nothing planted runs,
    nothing is read through the link."""
    config = make_config()
    marker = tmp_path / "hook-ran"
    secret = tmp_path / "host_secret.py"
    secret.write_text(program(50.0, "host secret"))
    hooks = ("pre-commit", "commit-msg", "post-commit", "prepare-commit-msg", "reference-transaction",
             "post-index-change", "pre-auto-gc")

    def plant(git_dir):
        for name in hooks:
            plant_hook(git_dir / "hooks", name, marker)
            plant_hook(git_dir / "planted-hooks", name, marker)
        with (git_dir / "config").open("a") as handle:
            handle.write(f"[core]\n\tfsmonitor = touch {marker}\n\thooksPath = {git_dir / 'planted-hooks'}\n")

    class Hostile:
        """Step 1 plants hooks and commits a better version; step 2 submits a link to a host file."""

        def __init__(self):
            self.step = 0

        def vary(self, context):
            self.step += 1
            target = context.work_dir / context.solution_file
            if self.step == 1:
                plant(context.work_dir / ".git")
                plant(config.lineage_dir / ".git")
                target.write_text(program(2.0, "better"))
                return VariationResult(submitted=True, rationale="better")
            if self.step == 2:
                target.unlink()
                target.symlink_to(secret)
                return VariationResult(submitted=True, rationale="link")
            raise ReplayExhausted("done")

    evaluator = FakeEvaluator()
    EvolutionRunner(config, operator=Hostile(), evaluator=evaluator).run()
    assert not marker.exists()
    lineage = GitLineageStore(config.lineage_dir, config.solution_file).load()
    assert [s.source for s in lineage.solutions] == [program(1.0, "seed"), program(2.0, "better")]
    assert all("host secret" not in source for _, source in evaluator.calls)
    rejection = next(read_events(config.run_log_path, "rejection"))
    assert rejection["reason"].startswith("candidate refused") and "symlink" in rejection["reason"]
    assert (config.work_dir / "solution.py").read_text() == program(2.0, "better")
    assert secret.read_text() == program(50.0, "host secret")
