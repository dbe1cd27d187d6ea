"""What the docs tests read of the Markdown pages: which pages there are, their headings, their code blocks.

The README and ``docs/*.md`` are one site (docs/docs-site.md). Headings and their anchors are
computed here the way the site computes them (MyST's GitHub-style slugs), so a citation or
link checked here resolves in the built site and on GitHub alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

_FENCE = re.compile(r"^(?P<indent>[ >]*)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                    re.S | re.M)


def pages() -> list[Path]:
    """README.md and every Markdown page of docs/."""
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def _outside_fences(text: str) -> str:
    """The text with every fenced code block blanked, so a `# comment` in a block is no heading."""
    return _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def plain(heading: str) -> str:
    """A heading's text as a reader sees it: inline code, emphasis and links unwrapped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[`*_]", "", text).strip()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (what MyST's ``myst_heading_anchors`` makes too)."""
    text = plain(heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(page: Path) -> list[str]:
    """The plain text of every heading of a page, in order."""
    body = _outside_fences(page.read_text(encoding="utf-8"))
    return [plain(m.group(1)) for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", body, re.M)]


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block: where it is, its language and its text."""

    page: Path
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def code_blocks(page: Path) -> list[CodeBlock]:
    """Every fenced code block of a page (the README's table cells, list items and quotes included),
    its text without the prefix of the item or quote it sits in."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        language = (match.group("info").strip().split() or [""])[0].strip("{}")
        line = text.count("\n", 0, match.start()) + 1
        indent = match.group("indent")  # a block inside a list item or a quote: its prefix goes
        body = "".join(row[len(indent):] if row.startswith(indent) else row.lstrip(" >")
                       for row in match.group("body").splitlines(keepends=True))
        blocks.append(CodeBlock(page, line, language, body))
    return blocks
