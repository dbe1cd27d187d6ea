"""The scorer's files as scoring containers see them: the module and what it declares, nothing else.

Users keep the config, the scorer and often ``.env`` files, keys and data in one
folder (``avo init`` writes there). Mounting that folder would show all of it to
every candidate under test, and a candidate's exception text reaches the model,
and so the provider. So each run copies the scoring module and the files that
``scorer_files`` declares (globs relative to the module's folder) into a staging
folder of its own, read-only, and only that folder is mounted. The run's own
files (work tree, lineage, scoring folder, run log) are never staged, whatever
the globs say, also when the workspace is the scorer's folder (``workspace_dir: .``).

The hidden test split's data (``scoring.hidden.data_dir``) is never staged either:
hidden calls get it through a mount of their own (see :mod:`orchestrator.scoring.hidden_split`).

Layout: ``<workspace_dir>/staged/`` is private to the host user (mode 0700); in it
``<run id>-<split>/`` holds the copies of one evaluator (the public one, and the hidden
split's), readable by the sandbox's uid (65532 when the host user is root, which only
reaches the folder through its own bind mount).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from orchestrator.config import EvolutionConfig
from orchestrator.core.workspace_files import remove
from orchestrator.errors import ConfigError
from orchestrator.scoring.hidden_split import hidden_data_dir

__all__ = ["STAGING_DIR", "declared_files", "stage_scorer", "unstage"]

STAGING_DIR = "staged"
#: What avo keeps in a workspace; never staged, even when the workspace is the scorer's folder.
RUN_ENTRIES = frozenset({"work", "lineage", "lineage.json", "scoring", "scoring-hidden", "events.jsonl",
                         ".avo-run.lock", STAGING_DIR})
_READ_ONLY_FILE = 0o444
_READ_ONLY_DIR = 0o555


def declared_files(config: EvolutionConfig) -> dict[str, Path]:
    """The scoring module and every file ``scorer_files`` declares, by their path relative to
    the module's folder. Raises ConfigError when a pattern matches nothing or leads out."""
    source = config.scoring_module.resolve().parent
    files = {config.scoring_module.name: config.scoring_module.resolve()}
    for pattern in config.scorer_files:
        matches = _declared(source, pattern, _excluded(config, source))
        if not matches:
            raise ConfigError(f"scorer_files: {pattern!r} matches no file in {source} (run files are never "
                              "staged); fix the pattern or remove it")
        files.update(matches)
    return files


def stage_scorer(config: EvolutionConfig, run_id: str, split: str = "public") -> Path:
    """Copy the scoring module and the declared files into a fresh read-only folder; its path.

    Other runs' staging folders (a killed run's) are removed first: the workspace lock lets
    one run at a time use the workspace.
    """
    files = declared_files(config)
    parent = config.workspace_dir.resolve() / STAGING_DIR
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(stat.S_IRWXU)
    staged = parent / f"{run_id}-{split}"
    for stale in parent.iterdir():
        if stale == staged or not stale.name.startswith(f"{run_id}-"):
            unstage(stale)
    for relative, path in sorted(files.items()):
        target = staged / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(_READ_ONLY_FILE)
    staged.mkdir(exist_ok=True)
    for folder, _, _ in os.walk(staged):
        os.chmod(folder, _READ_ONLY_DIR)
    return staged


def unstage(staged: Path) -> None:
    """Remove a staging folder (read-only copies included); safe to call twice."""
    remove(staged.parent, staged.name)


def _excluded(config: EvolutionConfig, source: Path) -> list[Path]:
    """The run's own files (the whole workspace when it sits inside the scorer's folder,
    else the entries avo keeps there) and the hidden split's data."""
    workspace = config.workspace_dir.resolve()
    hidden = [data] if (data := hidden_data_dir(config)) is not None else []
    if workspace.is_relative_to(source) and workspace != source:
        return [workspace, *hidden]
    return [workspace / name for name in RUN_ENTRIES] + hidden


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _declared(source: Path, pattern: str, excluded: list[Path]) -> dict[str, Path]:
    """Regular files matched by ``pattern`` (folders matched contribute their files), by
    their path relative to ``source``; links must resolve inside ``source``."""
    pure = PurePosixPath(pattern)
    if not pattern.strip() or pure.is_absolute() or ".." in pure.parts:
        raise ConfigError(f"scorer_files: {pattern!r} must be a glob relative to the scorer's folder, without '..'")
    found: dict[str, Path] = {}
    for match in sorted(source.glob(pattern)):
        candidates = sorted(p for p in match.rglob("*") if not p.is_dir()) if match.is_dir() else [match]
        for path in candidates:
            if _inside(path, excluded):
                continue
            real = path.resolve()
            if not real.is_relative_to(source):
                raise ConfigError(f"scorer_files: {path} is a link leading out of {source}; copy the file there")
            if _inside(real, excluded):  # what is copied is the target: check it too
                raise ConfigError(f"scorer_files: {path} is a link to {real}, which is never staged (the hidden "
                                  "split's data or the run's own files); remove the link or copy a public file there")
            if real.is_file():
                found[path.relative_to(source).as_posix()] = real
    return found
