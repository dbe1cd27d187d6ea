"""Loading, chunking and BM25 retrieval of the knowledge base."""

from __future__ import annotations

from pathlib import Path

from orchestrator.agent.knowledge_base import WINDOW_LINES, KnowledgeBase, chunk_lines

GUIDE = """# Kernel guide

Intro text.

## Online softmax

Keep a running max and a running sum; rescale when the max grows.

```python
# not a heading inside a fence
```

## Tiling

Load tiles of K and V into shared memory.
"""

RST = """Triton notes
============

Intro.

Autotuning
----------

Use triton.autotune with num_warps and num_stages.
"""


def make_kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "ref").mkdir(parents=True)
    (root / "guide.md").write_text(GUIDE)
    (root / "notes.rst").write_text(RST)
    (root / "ref" / "kernel.py").write_text("\n".join(f"x{i} = {i}  # line {i + 1}" for i in range(150)) + "\n")
    (root / "paper.pdf").write_bytes(b"%PDF-1.4 binary")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]")
    return root


def test_markdown_sections_with_line_ranges() -> None:
    chunks = chunk_lines("guide.md", GUIDE.splitlines())
    assert [(c.title, c.start_line, c.end_line) for c in chunks] == [
        ("Kernel guide", 1, 4), ("Online softmax", 5, 12), ("Tiling", 13, 15),
    ]


SETEXT = """Flash attention
===============

Tiles of Q stay in SRAM.

    # an indented code block, not a heading

Backward pass
-------------

Recompute the attention matrix instead of storing it.
"""


def test_markdown_setext_headings_count_and_code_blocks_do_not() -> None:
    chunks = chunk_lines("flash.md", SETEXT.splitlines())
    assert [(c.title, c.start_line, c.end_line) for c in chunks] == [("Flash attention", 1, 7), ("Backward pass", 8, 11)]


def test_rst_headings_and_code_windows() -> None:
    assert [c.title for c in chunk_lines("notes.rst", RST.splitlines())] == ["Triton notes", "Autotuning"]
    code = chunk_lines("kernel.py", [f"line {i}" for i in range(150)])
    assert [(c.start_line, c.end_line) for c in code] == [(1, WINDOW_LINES), (61, 120), (121, 150)]


def test_load_search_read_and_index(tmp_path: Path) -> None:
    kb = KnowledgeBase.load(make_kb(tmp_path))
    assert {c.path for c in kb.chunks} == {"guide.md", "notes.rst", "ref/kernel.py"}
    hit = kb.search("running max rescale softmax", k=3)[0]
    assert (hit.path, hit.start_line, hit.end_line, hit.title) == ("guide.md", 5, 12, "Online softmax")
    assert kb.search("autotune num_warps")[0].path == "notes.rst"
    assert kb.search("zzzz qqqq") == []
    assert "guide.md (15 lines): Kernel guide" in kb.index() and "notes.rst (9 lines): Triton notes" in kb.index()
    text = kb.read("guide.md", 7, 7)
    assert text == "guide.md lines 7-7 of 15\n    7  Keep a running max and a running sum; rescale when the max grows."


def test_missing_directory_is_an_empty_base(tmp_path: Path) -> None:
    kb = KnowledgeBase.load(tmp_path / "absent")
    assert not kb and kb.search("x") == [] and "no knowledge base" in kb.index()
    assert not KnowledgeBase.load(None)


def test_symlinks_out_of_the_base_are_not_indexed(tmp_path: Path) -> None:
    root = make_kb(tmp_path)
    (tmp_path / "private.md").write_text("# Secret\npassword hunter2\n")
    (root / "leak.md").symlink_to(tmp_path / "private.md")
    kb = KnowledgeBase.load(root)
    assert kb.search("password hunter2") == []
