"""Whose fault a harness traceback is (orchestrator.scoring.failure): the innermost user frame decides."""

from __future__ import annotations

from pathlib import Path

from orchestrator.scoring.failure import scorer_crash

LIBRARIES = ("/opt/avo/lib/orchestrator", "/opt/avo/harness")


def traceback(*frames: str, last: str) -> str:
    body = "".join(f'  File "{file}", line {line}, in {function}\n    code\n' for file, line, function in
                   (frame.split(":") for frame in frames))
    return f"Traceback (most recent call last):\n{body}{last}\n"


def test_the_innermost_user_frame_in_the_scorer_blames_the_scorer(tmp_path: Path) -> None:
    text = traceback("/opt/avo/harness/call_harness.py:60:_run_scorer", "/opt/avo/scorer/scorer.py:12:evaluate",
                     "/usr/lib/python3.11/json/__init__.py:346:loads", last="ValueError: bad json")
    assert scorer_crash(text, "/opt/avo/scorer", LIBRARIES, tmp_path, "ValueError: bad json") == (
        "the scorer crashed at scorer.py:12 (in evaluate), not the candidate: ValueError: bad json; fix the scorer")


def test_a_frame_of_the_candidate_or_of_code_the_scorer_executed_blames_the_candidate(tmp_path: Path) -> None:
    for candidate in ("/workspace/solution.py:3:run", "<string>:3:run", "solution.py:3:run"):
        text = traceback("/opt/avo/scorer/scorer.py:12:evaluate", candidate, last="KeyError: 7")
        assert scorer_crash(text, "/opt/avo/scorer", LIBRARIES, tmp_path, "KeyError: 7") is None


def test_a_missing_file_is_named_only_when_it_exists_beside_the_scorer(tmp_path: Path) -> None:
    headline = "FileNotFoundError: [Errno 2] No such file or directory: '/opt/avo/scorer/data/cases.json'"
    text = traceback("/opt/avo/scorer/scorer.py:9:evaluate", last=headline)
    assert scorer_crash(text, "/opt/avo/scorer", LIBRARIES, tmp_path, headline).endswith("; fix the scorer")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.json").write_text("[]")
    assert "; add `data/cases.json` to `scorer_files`" in scorer_crash(text, "/opt/avo/scorer", LIBRARIES, tmp_path,
                                                                       headline)
