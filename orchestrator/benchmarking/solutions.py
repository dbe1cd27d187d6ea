"""What ``avo eval`` and ``avo rebench`` score: a file, or committed versions of a lineage.

A CI checkout has no ``workspace/``: there the candidate is a file of the pull
request and the baseline a file in the repository (the lineage's best, exported)
or a version of a lineage that the runner keeps (``--workspace``). Versions are
read from the lineage store itself, never from a work tree an agent wrote.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from orchestrator.config import EvolutionConfig
from orchestrator.core.solution_layout import SolutionLayout
from orchestrator.core.types import Lineage, Solution
from orchestrator.errors import BenchmarkError, WorkspaceEscape
from orchestrator.persistence.store import open_store

__all__ = ["SolutionUnderTest", "is_version_spec", "load_lineage", "read_file", "read_version", "resolve",
           "select_versions"]

_VERSION = re.compile(r"^v(\d+)$")
_RANGE = re.compile(r"^v(\d+)\.\.v(\d+)$")


class SolutionUnderTest(BaseModel):
    """A source to score and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    source: str
    version: int | None = None
    commit: str | None = None
    files: dict[str, str] = {}  # a directory solution's files (source is its entry file)


def is_version_spec(text: str) -> bool:
    """``vN`` or ``best``: a committed version rather than a file."""
    return text == "best" or _VERSION.match(text) is not None


def load_lineage(config: EvolutionConfig) -> Lineage:
    """The committed versions; an empty lineage is an error naming where it was looked for."""
    lineage = open_store(config).load()
    if not lineage.solutions:
        raise BenchmarkError(f"no lineage in {config.workspace_dir}: a version (vN, best) needs the lineage of a run; "
                             "pass --workspace DIR of the run that keeps it, or a file instead")
    return lineage


def read_file(path: Path, layout: SolutionLayout | None = None) -> SolutionUnderTest:
    """A solution file from the checkout (the pull request's candidate, or an exported best); with a
    directory solution (``layout.directory``), a folder."""
    if layout is not None and layout.directory is not None:
        try:
            tree = layout.seed(path)
        except (OSError, WorkspaceEscape) as exc:
            raise BenchmarkError(f"{path}: cannot read the solution folder: {exc}") from None
        return SolutionUnderTest(label=f"folder {path}", source=tree.source, files=tree.files)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: solution file not found (pass an existing file, or vN / best)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: cannot read the solution file: {exc}") from None
    return SolutionUnderTest(label=f"file {path}", source=source)


def read_version(spec: str, lineage: Lineage) -> SolutionUnderTest:
    """Version ``vN`` or ``best`` (the latest, which the commit rule makes the best)."""
    if spec == "best":
        solution = lineage.solutions[-1]
    else:
        match = _VERSION.match(spec)
        if match is None:
            raise BenchmarkError(f"{spec!r} is not a version: use vN (e.g. v3) or best")
        solution = _at(lineage, int(match[1]))
    return _under_test(solution)


def resolve(spec: str, config: EvolutionConfig) -> SolutionUnderTest:
    """``vN`` or ``best`` of the config's lineage, or else a file path (``--baseline``)."""
    return read_version(spec, load_lineage(config)) if is_version_spec(spec) else read_file(Path(spec), config.layout)


def select_versions(spec: str, lineage: Lineage) -> list[SolutionUnderTest]:
    """``all``, ``best``, ``vN`` or ``vN..vM`` (inclusive), oldest first."""
    if spec == "all":
        chosen = lineage.solutions
    elif (match := _RANGE.match(spec)) is not None:
        first, last = int(match[1]), int(match[2])
        if first > last:
            raise BenchmarkError(f"--versions {spec}: the range is empty (write the older version first)")
        chosen = [_at(lineage, number) for number in range(first, last + 1)]
    elif spec == "best" or _VERSION.match(spec):
        return [read_version(spec, lineage)]
    else:
        raise BenchmarkError(f"--versions {spec!r}: use all, best, vN or vN..vM")
    return [_under_test(solution) for solution in chosen]


def _at(lineage: Lineage, number: int) -> Solution:
    if number >= len(lineage.solutions):
        raise BenchmarkError(f"v{number} does not exist: the lineage has v0..v{len(lineage.solutions) - 1}")
    return lineage.solutions[number]


def _under_test(solution: Solution) -> SolutionUnderTest:
    return SolutionUnderTest(label=f"v{solution.version}", source=solution.source, version=solution.version,
                             commit=solution.commit, files=solution.files)
