"""avo's stand-in for the ``shinka`` package inside the sandbox: only the evaluation helper
evaluators import (``from shinka.core import run_shinka_eval``). It sits last on the path,
so a real ShinkaEvolve installed in the image is found first."""
