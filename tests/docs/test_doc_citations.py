"""Every place in the code that sends a reader to the docs names a page that exists and, when it
names a section, a heading that page has (docs/docs-site.md, "Citing the docs from code").

Error messages are how most users find the docs, and pages move: a message that cites a
section nobody can find is the error's second failure.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from markdown_pages import DOCS, REPO, headings, slug

_QUOTED = r"""[ \t]*[,:]?[ \t]*(?P<q>["'\u201c\u2018])(?P<section>[^"'\u201d\u2019\n]{1,120})["'\u201d\u2019]"""
_DOCS_CITATION = re.compile(r"docs/(?P<page>[\w.-]+\.md)(?:#(?P<anchor>[\w-]+))?(?:" + _QUOTED + ")?")
_README_CITATION = re.compile(r"\bREADME(?:\.md)?(?:'s)?(?:" + _QUOTED + ")?")
#: What cites nothing: the docs themselves (their links are checked by the strict site build)
#: and this folder, whose docstrings show the citation format.
_NOT_CODE = ("docs/", "tests/docs/", "README.md")


def _code_files() -> list[Path]:
    """The repository's tracked text files outside the docs (what git knows, no build output)."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
    files = []
    for name in listed.decode().split("\0"):
        if not name or name.startswith(_NOT_CODE) or name.endswith((".md", ".png", ".whl", ".tar.gz")):
            continue
        path = REPO / name
        if path.is_file():
            files.append(path)
    return files


def _citations() -> list[tuple[str, Path, str | None, str | None]]:
    """(where, page, anchor, section) for every citation of a docs page or the README in the code."""
    found = []
    for path in _code_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for pattern, page_of in ((_DOCS_CITATION, lambda m: DOCS / m.group("page")),
                                 (_README_CITATION, lambda m: REPO / "README.md")):
            for match in pattern.finditer(text):
                where = f"{path.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}"
                anchor = match.groupdict().get("anchor")
                found.append((where, page_of(match), anchor, match.group("section")))
    return found


CITATIONS = _citations()


def test_the_code_cites_the_docs() -> None:
    """The scan finds the citations it is meant to check (a broken pattern would pass vacuously)."""
    sections = [c for c in CITATIONS if c[3]]
    assert len(sections) >= 5, CITATIONS
    assert any(page.name == "multi-tenant.md" and section == "The host policy"
               for _, page, _, section in sections), sections


@pytest.mark.parametrize(("where", "page", "anchor", "section"), CITATIONS, ids=[c[0] for c in CITATIONS])
def test_citation_resolves(where: str, page: Path, anchor: str | None, section: str | None) -> None:
    assert page.is_file(), f"{where} cites {page.relative_to(REPO)}, which does not exist"
    titles = headings(page)
    if anchor is not None:
        assert anchor in {slug(title) for title in titles}, \
            f"{where} cites {page.name}#{anchor}; its anchors: {sorted(slug(t) for t in titles)}"
    if section is not None:
        known = {title.casefold() for title in titles}
        assert section.strip().casefold() in known, \
            f"{where} cites {page.name}, {section!r}, which is no heading of it; its headings: {titles}"
