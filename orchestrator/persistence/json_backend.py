"""The lineage as one JSON file, for ``git_persist: false``.

Each append rewrites the file through a temporary sibling, fsync and rename, so
a kill leaves the previous file or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from orchestrator.core.types import Lineage, Solution, lineage_of
from orchestrator.errors import LineageError

__all__ = ["JsonLineageStore"]

FORMAT = 1


class JsonLineageStore:
    """``LineageStore`` over ``<workspace>/lineage.json``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file() and bool(self.load().solutions)

    def load(self) -> Lineage:
        if not self.path.is_file():
            return Lineage()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            solutions = [Solution.model_validate(item) for item in data["solutions"]]
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise LineageError(f"{self.path} is not a valid lineage file ({exc}); restore it or "
                               "start a new workspace") from None
        for index, solution in enumerate(solutions):
            if solution.version != index:
                raise LineageError(f"{self.path}: version {solution.version} found at position {index}")
        return lineage_of(solutions)

    def append(self, solution: Solution) -> Solution:
        lineage = self.load()
        if solution.version != lineage.next_version:
            raise LineageError(f"{self.path}: cannot append v{solution.version}, next is v{lineage.next_version}")
        stored = solution.model_copy(update={"commit": f"json:v{solution.version}"})
        payload = {"format": FORMAT, "solutions": [s.model_dump(mode="json") for s in [*lineage.solutions, stored]]}
        self._write_atomically(json.dumps(payload, indent=1))
        return stored

    def recover(self) -> None:
        for leftover in self.path.parent.glob(".lineage-*.json"):
            leftover.unlink(missing_ok=True)

    def _write_atomically(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".lineage-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
