"""Directory solutions on the host: reading the tree from the untrusted work tree, its limits,
writing a version back, and what the lineage stores."""

from __future__ import annotations

import os

import pytest

from orchestrator.core.solution_layout import Candidate, SolutionLayout, read_candidate, write_candidate
from orchestrator.errors import WorkspaceEscape

LAYOUT = SolutionLayout(entry="main.py", directory="kernel", max_files=3, max_bytes=100)


def tree(work, files: dict[str, str]):
    for path, text in files.items():
        (work / "kernel" / path).parent.mkdir(parents=True, exist_ok=True)
        (work / "kernel" / path).write_text(text)


def test_the_tree_is_read_whole_with_caches_left_out(tmp_path):
    tree(tmp_path, {"main.py": "import util", "lib/util.py": "x = 1", "__pycache__/main.pyc": "bytes"})
    candidate = read_candidate(tmp_path, LAYOUT)
    assert candidate == Candidate("import util", {"lib/util.py": "x = 1", "main.py": "import util"})


@pytest.mark.parametrize("files, reason", [
    ({"main.py": "a", "b.py": "b", "c.py": "c", "d.py": "d"}, "more than solution_max_files (3)"),
    ({"main.py": "x" * 101}, "more than solution_max_bytes (100)"),
    ({"other.py": "x"}, "kernel/main.py (the entry file) is missing from kernel/"),
])
def test_limits_and_the_entry_file(tmp_path, files, reason):
    tree(tmp_path, files)
    with pytest.raises(WorkspaceEscape, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_candidate(tmp_path, LAYOUT)


@pytest.mark.parametrize("plant", ["symlink out", "symlinked folder", "fifo", "binary"])
def test_links_special_files_and_binaries_are_refused_without_being_followed(tmp_path, plant):
    tree(tmp_path, {"main.py": "a"})
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    target = tmp_path / "kernel" / "planted"
    if plant == "symlink out":
        target.symlink_to(secret)
    elif plant == "symlinked folder":
        target.symlink_to(tmp_path)
    elif plant == "fifo":
        os.mkfifo(target)
    else:
        target.write_bytes(b"\xff\xfe\x00 compiled")
    with pytest.raises(WorkspaceEscape) as refused:
        read_candidate(tmp_path, LAYOUT)
    assert "planted" in str(refused.value) and "host secret" not in str(refused.value)


def test_writing_a_version_back_leaves_exactly_its_files(tmp_path):
    tree(tmp_path, {"main.py": "new", "scratch.py": "left by an attempt"})
    (tmp_path / "outside.txt").write_text("keep")
    (tmp_path / "kernel" / "link").symlink_to(tmp_path)
    write_candidate(tmp_path, LAYOUT, Candidate("old", {"main.py": "old", "lib/util.py": "u"}))
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "kernel").rglob("*") if p.is_file()) == \
        ["kernel/lib/util.py", "kernel/main.py"]
    assert (tmp_path / "outside.txt").read_text() == "keep"  # the link was removed, never followed


def test_the_seed_folder_and_the_digest(tmp_path):
    (tmp_path / "seed" / "lib").mkdir(parents=True)
    (tmp_path / "seed" / "main.py").write_text("m")
    (tmp_path / "seed" / "lib" / "util.py").write_text("u")
    seed = LAYOUT.seed(tmp_path / "seed")
    assert seed.files == {"lib/util.py": "u", "main.py": "m"} and seed.source == "m"
    assert seed.digest == Candidate("m", {"main.py": "m", "lib/util.py": "u"}).digest
    assert seed.digest != Candidate("m", {"main.py": "m", "lib/util.py": "v"}).digest
