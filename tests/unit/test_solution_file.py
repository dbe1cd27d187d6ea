"""Host reads of the untrusted work tree never follow links out (SECURITY.md item 9)."""

import os

import pytest

from orchestrator.core.solution_file import MAX_SOLUTION_BYTES, read_solution, write_solution
from orchestrator.errors import WorkspaceEscape


@pytest.fixture
def work(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    (tmp_path / "secret").write_text("host secret")
    return path


def test_plain_file_round_trips(work):
    write_solution(work, "pkg/solution.py", "x = 1\n")
    assert read_solution(work, "pkg/solution.py") == "x = 1\n"


@pytest.mark.parametrize("plant, match", [
    (lambda w: (w / "solution.py").symlink_to(w.parent / "secret"), "symlink"),
    (lambda w: (w / "pkg").symlink_to(w.parent), "leads outside the workspace"),
    (lambda w: os.mkfifo(w / "solution.py"), "not a regular file"),
    (lambda w: (w / "solution.py").write_bytes(b"\xff\xfe"), "not UTF-8"),
    (lambda w: (w / "solution.py").write_bytes(b"#" * (MAX_SOLUTION_BYTES + 1)), "larger than"),
])
def test_hostile_solution_files_are_refused(work, plant, match):
    plant(work)
    relative = "pkg/secret" if match == "leads outside the workspace" else "solution.py"
    with pytest.raises(WorkspaceEscape, match=match):
        read_solution(work, relative)


@pytest.mark.parametrize("relative", ["/etc/passwd", "../secret"])
def test_paths_leaving_the_work_tree_are_refused(work, relative):
    with pytest.raises(WorkspaceEscape):
        read_solution(work, relative)
    with pytest.raises(WorkspaceEscape):
        write_solution(work, relative, "x")
