"""``orchestrator.core.kernel_checks``, the name scorers import the kernel checks by (README, ``avo init``'s
starter, the examples): the very module :mod:`orchestrator.scoring.kernel_checks`, under its published name.

The code lives in the ``orchestrator.scoring`` package with the rest of scoring; this alias keeps
every scorer written against the published name working, in the sandbox too.
"""

import sys

from orchestrator.scoring import kernel_checks

sys.modules[__name__] = kernel_checks
