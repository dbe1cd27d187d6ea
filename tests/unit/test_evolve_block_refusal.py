"""The EVOLVE-BLOCK refusal names the first changed line outside the markers, both ways it reads, and the fix."""

from __future__ import annotations

import pytest

from orchestrator.core.evolve_blocks import outside_change

COMMITTED = "import math\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\nprint(math.pi * x)\n"


@pytest.mark.parametrize("candidate, change", [
    (COMMITTED.replace("import math\n", "import math\nimport os\n"), "it adds line 2, 'import os'; remove it"),
    (COMMITTED.replace("import math\n", ""), "it removes 'import math' (line 1 of the committed version); put it back"),
    (COMMITTED.replace("math.pi * x", "99"), "it has 'print(99)' at line 5 where the committed version has "
                                              "'print(math.pi * x)'; restore that line"),
])
def test_the_refusal_names_the_changed_outside_line_and_the_fix(candidate: str, change: str) -> None:
    assert outside_change(COMMITTED, candidate, "solution.py") == (
        f"solution.py changes code outside the EVOLVE-BLOCK-START/END markers: {change}, "
        "and change only the code between the markers")


def test_a_change_between_the_markers_is_accepted() -> None:
    assert outside_change(COMMITTED, COMMITTED.replace("x = 1", "x = 2\ny = 3"), "solution.py") is None
