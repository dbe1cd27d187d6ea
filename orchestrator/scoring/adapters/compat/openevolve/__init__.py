"""avo's stand-in for the ``openevolve`` package inside the sandbox: only what evaluators
import (``openevolve.evaluation_result``). It sits last on the scorer's path, so a real
OpenEvolve installed in the image (``sandbox.packages``) is found first."""
