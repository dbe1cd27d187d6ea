"""A ShinkaEvolve ``evaluate.py``, unchanged, as avo's scoring function (``scoring.interface: shinka``).

The script runs as ShinkaEvolve runs it, ``evaluate.py --program_path P
--results_dir D`` (P is a directory solution's folder), in a fresh interpreter started with ``-I`` (no environment
variables, working directory or user site on its path); its path is its own folder,
the standard library and site-packages, then avo's library and the compatible
``shinka`` package last, so a real ShinkaEvolve in the image wins.

The outcome is ``metrics.json`` and ``correct.json`` (``{"correct", "error"}``).
When the script uses avo's ``run_shinka_eval`` (the compatible package), the outcome
is taken from a private descriptor instead of the files, which the program under
test could overwrite. Either counts only from a script that exited with 0 (not killed by a signal).
``results_dir`` is a fresh folder per call.

What the agent sees: correctness and its error, ``text_feedback``, the metrics
except ``private`` (ShinkaEvolve keeps those from the model too), stderr; the
script's stdout only when the evaluation failed (it may print private metrics).
"""

from __future__ import annotations

import ast
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.scoring.score import Score, ScoringFunction, solution_dir
from orchestrator.scoring.adapters.metric_mapping import MetricMapping, flag_correctness, to_score

__all__ = ["ShinkaScorer"]

LIBRARY = Path(__file__).resolve().parents[3]  # the folder holding the orchestrator package
COMPAT = Path(__file__).resolve().parent / "compat"
_OUTPUT_TAIL = 3000

#: Run under -I: the script's folder first, avo's library and the compatible packages last. Before the
#: script runs, this process turns non-dumpable and the report descriptor non-inheritable, and the
#: descriptor goes to avo's ``run_shinka_eval`` (when it is the one found) as a module attribute: a
#: program the evaluator starts can neither open it through ``/proc`` nor find it named in its environment.
_BOOTSTRAP = """\
import importlib.util, json, os, runpy, sys
script, after, channel = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, os.path.dirname(script))
sys.path.extend(after)
from orchestrator.scoring.candidate_process import hide_this_process
hide_this_process()
os.set_inheritable(channel, False)
found = importlib.util.find_spec("shinka")
if found is not None and (found.origin or "").startswith(after[-1] + os.sep):
    import shinka.core
    shinka.core.REPORT_CHANNEL = channel
else:
    os.close(channel)  # a real ShinkaEvolve writes only the files
sys.argv = [script] + sys.argv[4:]
runpy.run_path(script, run_name="__main__")
"""

def _module_docstring(path: str) -> str:
    """The script's docstring, read without running it."""
    try:
        return ast.get_docstring(ast.parse(Path(path).read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError, ValueError):
        return ""


def _check_it_looks_like_shinka(script: str) -> None:
    """Refuse, naming the fix, a script that cannot be a ShinkaEvolve ``evaluate.py``: one run as
    ``--program_path P --results_dir D`` must name ``results_dir`` somewhere. (Without this, an
    OpenEvolve evaluator under ``interface: shinka`` fails every candidate for a missing metrics.json.)"""
    try:
        source = Path(script).read_text(encoding="utf-8")
        functions = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    except (OSError, SyntaxError, ValueError):
        return  # running it reports what is wrong
    if "results_dir" in source:
        return
    hint = ("; it defines evaluate(program_path), as an OpenEvolve evaluator does: set `interface: openevolve` "
            "under `scoring:` in the config") if functions & {"evaluate", "evaluate_stage1"} else ""
    raise TypeError(f"{os.path.basename(script)} does not look like a ShinkaEvolve evaluate.py: ShinkaEvolve runs it "
                    f"as `evaluate.py --program_path P --results_dir D`, and it never mentions results_dir{hint}")


def _run_script(script: str, arguments: list[str]) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """Run ``script arguments`` through the bootstrap; what it printed and the report it sent on
    avo's private channel.

    The channel is a socket pair, not a pipe: ``/proc/<pid>/fd/<n>`` reopens a pipe for any process
    that may look there (gVisor lets one look at a non-dumpable process), never a socket. Output and
    report are read together in this thread (gVisor's sandbox may refuse to start another)."""
    read_end, write_end = socket.socketpair()
    with read_end, write_end:
        command = [sys.executable, "-I", "-c", _BOOTSTRAP, script, json.dumps([str(LIBRARY), str(COMPAT)]),
                   str(write_end.fileno()), *arguments]
        process = subprocess.Popen(command, pass_fds=(write_end.fileno(),), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        write_end.close()
        assert process.stdout is not None and process.stderr is not None
        received: dict[int, list[bytes]] = {process.stdout.fileno(): [], process.stderr.fileno(): [],
                                            read_end.fileno(): []}
        with selectors.DefaultSelector() as selector:
            for fd in received:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        received[key.fd].append(chunk)
                    else:
                        selector.unregister(key.fd)
        code = process.wait()
        stdout, stderr = (b"".join(received[stream.fileno()]).decode(errors="replace")
                          for stream in (process.stdout, process.stderr))
        report = b"".join(received[read_end.fileno()])
        process.stdout.close()
        process.stderr.close()
    return subprocess.CompletedProcess(command, code, stdout, stderr), report


class ShinkaScorer(ScoringFunction):
    """``ScoringFunction`` over a ShinkaEvolve evaluation script (instantiated by the call harness)."""

    def __init__(self, evaluate_file: str, metrics: Mapping[str, Any] | None = None) -> None:
        self.script = os.path.abspath(evaluate_file)
        self.mapping = MetricMapping.model_validate(dict(metrics or {}))
        _check_it_looks_like_shinka(self.script)

    def get_configurations(self) -> list[str]:
        return list(self.mapping.configurations)

    def get_scoring_context(self) -> str:
        rule = f"{self.mapping.correctness} and correct.json" if self.mapping.correctness else "correct.json"
        parts = [_module_docstring(self.script), self.mapping.describe(), f"Correctness: {rule}."]
        return "\n".join(part for part in parts if part)

    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        results_dir = tempfile.mkdtemp(prefix="avo-shinka-results-")
        program = str(solution_dir() or os.path.abspath(source_file))
        done, reported = _run_script(self.script, ["--program_path", program, "--results_dir", results_dir])
        outcome = self._outcome(reported, results_dir, done.returncode)
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
        """(metrics, correct, error) from the private report, else from the two files, and only from a
        script that exited with 0: a program that kills the evaluator gets believed neither files it
        wrote itself nor a report it managed to send."""
        if exit_code != 0:
            return None
        try:
            if reported:
                data = json.loads(reported)
                return dict(data["metrics"]), bool(data["correct"]), data.get("error")
            with open(os.path.join(results_dir, "metrics.json"), encoding="utf-8") as handle:
                metrics = json.load(handle)
            with open(os.path.join(results_dir, "correct.json"), encoding="utf-8") as handle:
                correct = json.load(handle)
            return dict(metrics), bool(correct.get("correct")), correct.get("error")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
