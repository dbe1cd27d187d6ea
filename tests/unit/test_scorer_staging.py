"""Staging the scorer (orchestrator.scoring.staging): the module and its declared files, nothing else."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.config import EvolutionConfig, HiddenSplit
from orchestrator.errors import ConfigError
from orchestrator.scoring.staging import stage_scorer, unstage


def project(tmp_path: Path, workspace: str = "workspace", files: list[str] | None = None) -> EvolutionConfig:
    (tmp_path / "scorer.py").write_text("# scorer\n")
    (tmp_path / "seed.py").write_text("# seed\n")
    (tmp_path / ".env").write_text("KEY=secret\n")
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.json").write_text("{}")
    (tmp_path / "data" / "sub" / "b.json").write_text("[]")
    return EvolutionConfig(seed_file=tmp_path / "seed.py", scoring_module=tmp_path / "scorer.py",
                           workspace_dir=tmp_path / workspace, scorer_files=files or [])


def staged_files(staged: Path) -> list[str]:
    return sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())


def test_only_the_module_and_the_declared_files_are_staged_read_only(tmp_path: Path) -> None:
    staged = stage_scorer(project(tmp_path, files=["data"]), "run-1")
    assert staged_files(staged) == ["data/a.json", "data/sub/b.json", "scorer.py"]
    assert stat.S_IMODE((staged / "scorer.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((staged / "data").stat().st_mode) == 0o555
    assert stat.S_IMODE(staged.parent.stat().st_mode) == 0o700
    unstage(staged)
    unstage(staged)  # safe twice
    assert not staged.exists()


def test_a_new_run_removes_a_killed_runs_staging(tmp_path: Path) -> None:
    config = project(tmp_path)
    old = stage_scorer(config, "run-killed")
    new = stage_scorer(config, "run-next")
    assert not old.exists() and staged_files(new) == ["scorer.py"]


def test_both_splits_of_a_run_are_staged_side_by_side(tmp_path: Path) -> None:
    config = project(tmp_path)
    public = stage_scorer(config, "run-1", "public")
    hidden = stage_scorer(config, "run-1", "hidden")
    assert public.exists() and hidden.exists() and public != hidden


def test_the_hidden_splits_data_is_never_staged(tmp_path: Path) -> None:
    config = project(tmp_path, files=["data"])
    config = config.model_copy(update={"scoring": config.scoring.model_copy(
        update={"hidden": HiddenSplit(data_dir=tmp_path / "data" / "sub")})})
    assert staged_files(stage_scorer(config, "run-1")) == ["data/a.json", "scorer.py"]


@pytest.mark.parametrize("target", ["hidden/answers.csv", "workspace/lineage/solution.py"])
def test_a_declared_link_into_the_hidden_split_or_the_run_files_is_refused(tmp_path: Path, target: str) -> None:
    config = project(tmp_path, files=["data"])
    config = config.model_copy(update={"scoring": config.scoring.model_copy(
        update={"hidden": HiddenSplit(data_dir=tmp_path / "hidden")})})
    (tmp_path / target).parent.mkdir(parents=True)
    (tmp_path / target).write_text("secret answers")
    (tmp_path / "data" / "answers.csv").symlink_to(f"../{target}")
    with pytest.raises(ConfigError, match="never staged"):
        stage_scorer(config, "run-1")


def test_the_run_files_are_never_staged_even_from_the_scorer_folder(tmp_path: Path) -> None:
    config = project(tmp_path, workspace=".", files=["*"])
    (tmp_path / "events.jsonl").write_text("{}\n")
    (tmp_path / "lineage").mkdir()
    (tmp_path / "lineage" / "solution.py").write_text("v0")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.jsonl").write_text("{}\n")
    staged = stage_scorer(config, "run-1")
    assert staged_files(staged) == [".env", "data/a.json", "data/sub/b.json", "scorer.py", "seed.py"]
    with pytest.raises(ConfigError, match="run files are never staged"):
        stage_scorer(config.model_copy(update={"scorer_files": ["**/*.jsonl"]}), "run-2")


@pytest.mark.parametrize("pattern, message", [
    ("missing/*.npy", "matches no file"),
    ("../outside.txt", "without '..'"),
    ("/etc/passwd", "relative to the scorer's folder"),
])
def test_bad_patterns_are_one_clear_error(tmp_path: Path, pattern: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        stage_scorer(project(tmp_path, files=[pattern]), "run-1")


def test_a_declared_link_leading_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("host file")
    scorer_dir = tmp_path / "scorer"
    scorer_dir.mkdir()
    config = project(scorer_dir, files=["linked.txt"])
    (scorer_dir / "linked.txt").symlink_to(outside)
    with pytest.raises(ConfigError, match="link leading out"):
        stage_scorer(config, "run-1")
