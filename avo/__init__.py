"""``avo``: the public Python API, under the names the AVO write-up uses.

A thin layer over :mod:`orchestrator` (one source of truth): each module here
re-exports the objects of the module it names, so ``avo.core.scoring.ScoringFunction``
*is* ``orchestrator.core.scoring.ScoringFunction``, and a scorer subclassing either
one is accepted everywhere. Scoring calls mount this package next to ``orchestrator``
in the sandbox, so scorers import it there too. Nothing heavy is imported here:
inside the sandbox only the standard library and pydantic exist.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("avo")
except PackageNotFoundError:  # a source checkout used without installing it
    __version__ = "0+unknown"

__all__ = ["__version__"]
