"""The docs site builds strictly with `make docs` (docs/docs-site.md): the README as its home
page, every page reachable, and a broken link or a page left out failing the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from markdown_pages import DOCS, REPO


def _make_docs(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`make docs` (the command CI and users run) on a docs folder, into ``out``."""
    return subprocess.run(["make", "-s", "-C", str(REPO), "docs", f"PYTHON={sys.executable}",
                           f"DOCS_SRC={source}", f"DOCS_OUT={out}"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_site_builds_strictly(tmp_path: Path) -> None:
    built = _make_docs(DOCS, tmp_path / "site")
    assert built.returncode == 0, built.stdout + built.stderr
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "Quick start" in home and "Your own problem" in home  # the README is the home page
    for page in DOCS.glob("*.md"):
        assert (tmp_path / "site" / f"{page.stem}.html").is_file(), f"{page.name} was not built"


def test_broken_link_and_orphan_page_fail_the_build(tmp_path: Path) -> None:
    """The strictness is real: a copy of the docs with one broken anchor and one page outside the
    table of contents fails, naming both."""
    source = tmp_path / "repo" / "docs"
    shutil.copytree(DOCS, source)
    shutil.copy(REPO / "README.md", tmp_path / "repo" / "README.md")
    clusters = source / "clusters.md"
    clusters.write_text(clusters.read_text(encoding="utf-8") + "\nSee [the policy](multi-tenant.md#no-such-heading).\n",
                        encoding="utf-8")
    (source / "orphan.md").write_text("# A page nobody links to\n", encoding="utf-8")
    built = _make_docs(source, tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-heading" in built.stderr and "orphan" in built.stderr, built.stderr
