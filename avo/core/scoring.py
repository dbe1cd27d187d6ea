"""The scorer contract: subclass ``ScoringFunction``, return a ``Score``; see :mod:`orchestrator.core.scoring`.

Imported inside the sandbox by user scorers, so like the module it re-exports it
needs only the standard library and pydantic.
"""

from orchestrator.core.scoring import (Score, ScoringFunction, current_split, hidden_data_dir, previous_best,
                                       solution_dir)

__all__ = ["Score", "ScoringFunction", "current_split", "hidden_data_dir", "previous_best", "solution_dir"]
