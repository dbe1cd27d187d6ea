"""``orchestrator.core.candidate_process``, the name scorers import CandidateProcess and CandidateError by (README, ``avo init``'s
starter, the examples): the very module :mod:`orchestrator.scoring.candidate_process`, under its published name.

The code lives in the ``orchestrator.scoring`` package with the rest of scoring; this alias keeps
every scorer written against the published name working, in the sandbox too.
"""

import sys

from orchestrator.scoring import candidate_process

sys.modules[__name__] = candidate_process
