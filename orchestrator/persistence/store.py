"""What the runner needs from lineage persistence, and which backend a config picks.

Both backends persist each committed version atomically (a git commit, or a JSON
file replaced in one rename), so a kill at any moment leaves either the old
lineage or the new one, never half a version.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from orchestrator.config import EvolutionConfig
from orchestrator.core.types import Lineage, Solution

__all__ = ["LineageStore", "open_store"]


@runtime_checkable
class LineageStore(Protocol):
    """Append-only storage of committed versions."""

    def exists(self) -> bool:
        """True when at least v0 is stored."""

    def load(self) -> Lineage:
        """The whole lineage, rebuilt from storage alone (attempts are not stored)."""

    def append(self, solution: Solution) -> Solution:
        """Persist the next version atomically; returns it with ``commit`` filled in."""

    def recover(self) -> None:
        """Remove what a killed writer left half-done (lock or temporary files); call only
        when no other process is writing this lineage."""


def open_store(config: EvolutionConfig) -> LineageStore:
    """The git store (default) or, with ``git_persist: false``, the JSON store."""
    if config.git_persist:
        from orchestrator.persistence.git_backend import GitLineageStore

        return GitLineageStore(config.lineage_dir, config.solution_file, config.layout.directory)
    from orchestrator.persistence.json_backend import JsonLineageStore

    return JsonLineageStore(config.lineage_json_path)
