"""``orchestrator.core.scoring``, the name scorers import Score, ScoringFunction, hidden_data_dir,
solution_dir and previous_best by (README, ``avo init``'s starter, the examples): the very module :mod:`orchestrator.scoring.score`, under its published name.

The code lives in the ``orchestrator.scoring`` package with the rest of scoring; this alias keeps
every scorer written against the published name working, in the sandbox too.
"""

import sys

from orchestrator.scoring import score

sys.modules[__name__] = score
