"""Syntax-highlighted diffs of a version against its parent, as HTML table rows.

Both sources are tokenised whole by Pygments (so a line inside a docstring is coloured as
one), split into lines, and laid out along difflib's opcodes with line numbers on both
sides. Every piece of source text is HTML-escaped before any markup is put around it: a
diff is untrusted text written by the model.
"""

from __future__ import annotations

import difflib
import html
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

__all__ = ["DiffView", "css", "diff", "highlight_lines"]

#: Lines of one diff the report shows; the rest is one `git diff` away in the lineage.
MAX_DIFF_LINES = 600
_STYLE = "default"


class DiffView:
    """A diff ready for the template: rows of ``(kind, old_no, new_no, html)`` and its size."""

    def __init__(self, rows: list[tuple[str, int | None, int | None, Markup]], added: int, removed: int,
                 hidden: int) -> None:
        self.rows = rows
        self.added = added
        self.removed = removed
        self.hidden = hidden


def css(scope: str = ".hl") -> str:
    """The token colours (Pygments' default style), scoped to the diff tables."""
    return HtmlFormatter(style=_STYLE).get_style_defs(scope)


@lru_cache(maxsize=16)
def _lexer(filename: str) -> Lexer:
    try:
        return get_lexer_for_filename(filename, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=True)


def _css_class(token: Any) -> str:
    while token not in STANDARD_TYPES and token.parent is not None:
        token = token.parent
    css_class = STANDARD_TYPES.get(token, "")
    return "" if css_class == "w" else css_class  # whitespace needs no colour


def highlight_lines(source: str, filename: str) -> list[Markup]:
    """One escaped, coloured HTML fragment per line of ``source`` (``html.escape`` escapes the same
    five characters as markupsafe, at a fraction of the cost per token)."""
    lines: list[list[str]] = [[]]
    for token, text in _lexer(filename).get_tokens(source):
        css_class = _css_class(token)
        for number, part in enumerate(text.split("\n")):
            if number:
                lines.append([])
            if part:
                text_html = html.escape(part)
                lines[-1].append(f'<span class="{css_class}">{text_html}</span>' if css_class else text_html)
    if lines and not lines[-1]:
        lines.pop()  # the newline the lexer ensures at the end
    return [Markup("".join(parts)) for parts in lines]


def diff(old: str | None, new: str, filename: str, *, context: int = 3,
         old_lines: list[Markup] | None = None, new_lines: list[Markup] | None = None) -> DiffView:
    """``new`` against ``old`` (None: every line is new), with ``context`` lines around each change.
    Pass already highlighted lines to reuse them across consecutive versions."""
    old_text = (old or "").splitlines()
    new_text = new.splitlines()
    old_html = old_lines if old_lines is not None else highlight_lines(old or "", filename)
    new_html = new_lines if new_lines is not None else highlight_lines(new, filename)
    rows: list[tuple[str, int | None, int | None, Markup]] = []
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, old_text, new_text, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        rows.append(("hunk", None, None, Markup(escape(
            f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@"))))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(("ctx", i + 1, j1 + i - i1 + 1, _line(old_html, i)) for i in range(i1, i2))
                continue
            if tag in ("replace", "delete"):
                rows.extend(("del", i + 1, None, _line(old_html, i)) for i in range(i1, i2))
                removed += i2 - i1
            if tag in ("replace", "insert"):
                rows.extend(("add", None, j + 1, _line(new_html, j)) for j in range(j1, j2))
                added += j2 - j1
    hidden = max(len(rows) - MAX_DIFF_LINES, 0)
    return DiffView(rows[:MAX_DIFF_LINES], added, removed, hidden)


def _line(lines: list[Markup], number: int) -> Markup:
    return lines[number] if number < len(lines) else Markup("")
