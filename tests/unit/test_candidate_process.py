"""CandidateProcess: a candidate in its own interpreter, timed by the scorer's clock.

The candidates are the tests' own programs. Attacks that need an unprivileged user
(reading the scorer's memory) run in the sandbox, in
tests/bring_your_own/test_scoring_integrity_sandbox.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.scoring.candidate_process import CandidateError, CandidateProcess, CandidateTimeout

PROGRAM = '''
import time

def nap(seconds):
    time.sleep(seconds)
    return {"slept": seconds, "values": [1, 2.5, "x"], "pair": (1, None)}

def patch_the_clock():
    """Every clock this process can reach now says no time passes."""
    frozen = time.perf_counter()
    time.perf_counter = time.monotonic = time.time = lambda: frozen
    time.perf_counter_ns = time.monotonic_ns = lambda: 0

def array(n):
    import numpy
    return numpy.arange(n, dtype=numpy.float32).reshape(2, -1)

def tensor():
    import torch
    return torch.arange(6, dtype=torch.bfloat16).reshape(2, 3) / 4

def hostile(marker):
    import os
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    return Payload()

def fail():
    raise ValueError("candidate says no")
'''


@pytest.fixture
def candidate(tmp_path: Path):
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    with CandidateProcess(path, timeout_s=60) as process:
        yield process


def test_results_come_back_as_plain_data_and_calls_are_timed(candidate):
    timed = candidate.call("nap", 0.2)
    assert timed.result == {"slept": 0.2, "values": [1, 2.5, "x"], "pair": (1, None)}
    assert 0.2 <= timed.seconds < 2


def test_a_candidate_that_stops_its_own_clocks_is_still_timed(candidate):
    candidate.call("patch_the_clock")
    assert candidate.call("nap", 0.3).seconds >= 0.3


def test_numpy_arrays_and_tensors_cross_as_data(candidate):
    import numpy
    import torch

    assert numpy.array_equal(candidate.call("array", 6).result, numpy.arange(6, dtype=numpy.float32).reshape(2, 3))
    tensor = candidate.call("tensor").result
    assert tensor.dtype == torch.bfloat16 and torch.equal(tensor, torch.arange(6, dtype=torch.bfloat16).reshape(2, 3) / 4)


def test_a_result_that_would_run_code_when_decoded_is_refused(candidate, tmp_path):
    marker = tmp_path / "decoded"
    with pytest.raises(CandidateError, match="holds a posix.system, which cannot cross to the scorer"):
        candidate.call("hostile", str(marker))
    assert not marker.exists()


def test_exceptions_and_missing_functions_carry_the_candidates_traceback(candidate):
    with pytest.raises(CandidateError, match="ValueError: candidate says no"):
        candidate.call("fail")
    with pytest.raises(CandidateError, match="the program does not define a function `absent`"):
        candidate.call("absent")
    assert candidate.call("nap", 0).result["slept"] == 0  # the worker survives both


def test_import_failures_and_hangs(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_anywhere\n")
    with pytest.raises(CandidateError, match="(?s)importing the program raised an exception:.*no_such_module_anywhere"):
        CandidateProcess(broken, timeout_s=30)
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ndef forever():\n    while True:\n        time.sleep(1)\n")
    with CandidateProcess(slow, timeout_s=1) as process, pytest.raises(CandidateTimeout):
        process.call("forever")


def test_the_working_directory_and_environment_put_nothing_on_the_candidates_path(tmp_path, monkeypatch):
    (tmp_path / "program.py").write_text("import json\ndef where():\n    return json.__file__\n")
    decoy = tmp_path / "elsewhere"
    decoy.mkdir()
    (decoy / "json.py").write_text("raise SystemExit('decoy imported')\n")
    monkeypatch.chdir(decoy)
    monkeypatch.setenv("PYTHONPATH", str(decoy))
    with CandidateProcess(tmp_path / "program.py", timeout_s=30) as process:
        assert "elsewhere" not in process.call("where").result
