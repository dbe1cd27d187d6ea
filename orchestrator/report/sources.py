"""The two records a report is built from: the lineage (what was committed) and the run log
(everything that happened), read without changing either.

A workspace unpacked from ``avo export`` holds the lineage as a git bundle
(``lineage.bundle``) instead of a repository: it is cloned into a temporary folder with
the same isolated git settings as the lineage store (no hooks, no system or global
configuration), so a report of someone else's run needs git but no Docker and no scorer.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import read_events
from orchestrator.core.types import Lineage
from orchestrator.errors import LineageError
from orchestrator.persistence.git_backend import ISOLATED_GIT_ENV, GitLineageStore
from orchestrator.persistence.store import open_store

__all__ = ["BUNDLE_NAME", "RunRecord", "load_run", "read_lineage", "state_key"]

#: Where ``avo export`` puts the lineage inside the exported workspace.
BUNDLE_NAME = "lineage.bundle"


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: its config, its lineage and its run log's events (in order; read as they
    are, since a week-long run log holds hundreds of thousands of them)."""

    config: EvolutionConfig
    lineage: Lineage
    events: list[dict[str, Any]]


def load_run(config: EvolutionConfig) -> RunRecord:
    """The run in ``config.workspace_dir``; a clear error when there is nothing to report."""
    lineage = read_lineage(config)
    events = list(read_events(config.run_log_path))
    if not lineage.solutions and not events:
        raise LineageError(f"no run in {config.workspace_dir} (no lineage and no events.jsonl): "
                           "start one with `avo run CONFIG`, or point workspace_dir at the run's folder")
    return RunRecord(config=config, lineage=lineage, events=events)


def state_key(config: EvolutionConfig) -> str:
    """Changes whenever the run log or the lineage does: what the live view polls."""
    parts = []
    for path in (config.run_log_path, config.lineage_json_path, config.lineage_dir / ".git" / "HEAD",
                 config.workspace_dir / BUNDLE_NAME):
        try:
            stat = path.stat()
            parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            parts.append("-")
    parts.append(_head(config.lineage_dir))
    return "/".join(parts)


def _head(repo_dir: Path) -> str:
    """The commit HEAD names, read from the refs without running git (cheap enough to poll)."""
    git_dir = repo_dir / ".git"
    try:
        head = (git_dir / "HEAD").read_text(encoding="ascii").strip()
    except OSError:
        return "-"
    if not head.startswith("ref: "):
        return head
    ref = head[5:]
    try:
        return (git_dir / ref).read_text(encoding="ascii").strip()
    except OSError:
        pass
    try:
        for line in (git_dir / "packed-refs").read_text(encoding="ascii").splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return "-"


def read_lineage(config: EvolutionConfig) -> Lineage:
    """The run's lineage: its git repository or JSON file, or the git bundle of an unpacked export."""
    bundle = config.workspace_dir / BUNDLE_NAME
    if config.git_persist and not (config.lineage_dir / ".git").is_dir() and bundle.is_file():
        return _load_bundle(bundle, config.solution_file)
    store = open_store(config)
    return store.load() if store.exists() else Lineage()


def _load_bundle(bundle: Path, solution_file: str) -> Lineage:
    with tempfile.TemporaryDirectory(prefix="avo-report-") as scratch:
        target = Path(scratch) / "lineage"
        command = ["git", "-c", "core.hooksPath=/dev/null", "clone", "--quiet", "--no-checkout",
                   str(bundle.resolve()), str(target)]
        done = subprocess.run(command, env={**ISOLATED_GIT_ENV, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise LineageError(f"{bundle} is not a readable git bundle ({done.stderr.strip() or done.returncode}); "
                               "export the run again with `avo export`")
        return GitLineageStore(target, solution_file).load()
