"""Rebench results beside the lineage: ``<workspace>/rebench/<time>-<id>.json``, one per job.

The lineage's history is never rewritten (its commits carry what was measured
when each version was committed); re-measurements are separate records, written
atomically, that ``avo lineage`` shows next to the recorded scores. A record
applies to a version only while that version's commit is the one it measured, so
a workspace started afresh never shows another lineage's numbers.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from pydantic import ValidationError

from orchestrator.config import EvolutionConfig
from orchestrator.core.types import Lineage

from .rebench import RebenchedVersion, RebenchResult

__all__ = ["latest_by_version", "rebench_dir", "save"]


def rebench_dir(config: EvolutionConfig) -> Path:
    return config.workspace_dir / "rebench"


def save(config: EvolutionConfig, result: RebenchResult) -> Path:
    """Write ``result`` as a new record (temporary file, fsync, rename); returns its path."""
    folder = rebench_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = result.environment.created_at.strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}-{secrets.token_hex(3)}.json"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".rebench-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(result.model_dump_json(indent=1) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def latest_by_version(config: EvolutionConfig, lineage: Lineage) -> dict[int, RebenchedVersion]:
    """The newest re-measurement of each version whose commit is still the lineage's; unreadable
    records are skipped (they are the user's files, and ``avo lineage`` must still work)."""
    commits = {solution.version: solution.commit for solution in lineage.solutions}
    latest: dict[int, RebenchedVersion] = {}
    folder = rebench_dir(config)
    if not folder.is_dir():
        return latest
    for path in sorted(folder.glob("[0-9]*.json")):
        try:
            record = RebenchResult.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, ValidationError):
            continue
        for version in record.versions:
            if commits.get(version.version) == version.commit:
                latest[version.version] = version
    return latest
