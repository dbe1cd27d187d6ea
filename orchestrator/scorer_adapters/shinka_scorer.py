"""A ShinkaEvolve ``evaluate.py``, unchanged, as avo's scoring function (``scoring.interface: shinka``).

The script runs as ShinkaEvolve runs it, ``evaluate.py --program_path P
--results_dir D`` (P is a directory solution's folder), in a fresh interpreter started with ``-I`` (no environment
variables, working directory or user site on its path); its path is its own folder,
the standard library and site-packages, then avo's library and the compatible
``shinka`` package last, so a real ShinkaEvolve in the image wins.

The outcome is ``metrics.json`` and ``correct.json`` (``{"correct", "error"}``).
When the script uses avo's ``run_shinka_eval`` (the compatible package), the outcome
is taken from a private descriptor instead of the files, which the program under
test could overwrite. ``results_dir`` is a fresh folder per call.

What the agent sees: correctness and its error, ``text_feedback``, the metrics
except ``private`` (ShinkaEvolve keeps those from the model too), stderr; the
script's stdout only when the evaluation failed (it may print private metrics).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.core.scoring import Score, ScoringFunction, solution_dir
from orchestrator.scorer_adapters.metric_mapping import MetricMapping, flag_correctness, to_score

__all__ = ["ShinkaScorer"]

LIBRARY = Path(__file__).resolve().parents[2]  # the folder holding the orchestrator package
COMPAT = Path(__file__).resolve().parent / "compat"
RESULT_FD_VARIABLE = "AVO_RESULT_FD"  # read by compat/shinka/core's run_shinka_eval
_OUTPUT_TAIL = 3000

#: Run under -I: the script's folder first, avo's library and the compatible packages last.
_BOOTSTRAP = """\
import json, os, runpy, sys
script, after = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, os.path.dirname(script))
sys.path.extend(after)
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
"""


def _module_docstring(path: str) -> str:
    """The script's docstring, read without running it."""
    try:
        return ast.get_docstring(ast.parse(Path(path).read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError, ValueError):
        return ""


def _read_all(fd: int, sink: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as channel:
        sink.append(channel.read())


class ShinkaScorer(ScoringFunction):
    """``ScoringFunction`` over a ShinkaEvolve evaluation script (instantiated by the call harness)."""

    def __init__(self, evaluate_file: str, metrics: Mapping[str, Any] | None = None) -> None:
        self.script = os.path.abspath(evaluate_file)
        self.mapping = MetricMapping.model_validate(dict(metrics or {}))

    def get_configurations(self) -> list[str]:
        return list(self.mapping.configurations)

    def get_scoring_context(self) -> str:
        rule = f"{self.mapping.correctness} and correct.json" if self.mapping.correctness else "correct.json"
        parts = [_module_docstring(self.script), self.mapping.describe(), f"Correctness: {rule}."]
        return "\n".join(part for part in parts if part)

    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        results_dir = tempfile.mkdtemp(prefix="avo-shinka-results-")
        read_fd, write_fd = os.pipe()
        reported: list[bytes] = []
        reader = threading.Thread(target=_read_all, args=(read_fd, reported), daemon=True)
        reader.start()
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", _BOOTSTRAP, self.script, json.dumps([str(LIBRARY), str(COMPAT)]),
                 "--program_path", str(solution_dir() or os.path.abspath(source_file)), "--results_dir", results_dir],
                pass_fds=(write_fd,), env={**os.environ, RESULT_FD_VARIABLE: str(write_fd)},
                stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", check=False,
            )
        finally:
            os.close(write_fd)
            reader.join()
        outcome = self._outcome(b"".join(reported), results_dir, done.returncode)
        artifacts: dict[str, Any] = {}
        if outcome is None:
            artifacts["evaluator_output"] = (done.stdout + done.stderr)[-_OUTPUT_TAIL:]
            message = f"evaluate.py exited with code {done.returncode} without writing metrics.json and correct.json"
            return to_score({}, self.mapping, correct=False, message=message, artifacts=artifacts)
        metrics, correct, error = outcome
        if isinstance(metrics.get("text_feedback"), str):
            artifacts["feedback"] = metrics["text_feedback"]
        artifacts["metrics"] = {key: value for key, value in metrics.items() if key not in ("private", "text_feedback")}
        if done.stderr.strip():
            artifacts["stderr"] = done.stderr[-_OUTPUT_TAIL:]
        if not correct:
            artifacts["evaluator_output"] = done.stdout[-_OUTPUT_TAIL:]
            return to_score(metrics, self.mapping, correct=False, message=error or "correct.json says incorrect",
                            artifacts=artifacts)
        if self.mapping.correctness:
            passed, message = flag_correctness(metrics, self.mapping.correctness)
            return to_score(metrics, self.mapping, correct=passed, message=message, artifacts=artifacts)
        return to_score(metrics, self.mapping, correct=True, message="correct", artifacts=artifacts)

    @staticmethod
    def _outcome(reported: bytes, results_dir: str,
                 exit_code: int) -> tuple[dict[str, Any], bool, str | None] | None:
        """(metrics, correct, error) from the private report, else from the two files of a script that
        exited cleanly (a program that kills the evaluator cannot get files it wrote itself believed)."""
        try:
            if reported:
                data = json.loads(reported)
                return dict(data["metrics"]), bool(data["correct"]), data.get("error")
            if exit_code != 0:
                return None
            with open(os.path.join(results_dir, "metrics.json"), encoding="utf-8") as handle:
                metrics = json.load(handle)
            with open(os.path.join(results_dir, "correct.json"), encoding="utf-8") as handle:
                correct = json.load(handle)
            return dict(metrics), bool(correct.get("correct")), correct.get("error")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
