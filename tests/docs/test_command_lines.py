"""Every `avo` command line in the shell blocks of the README and docs/ is one avo's own parser
accepts: a renamed subcommand or option fails here, not in a reader's terminal.

Synopses with `[optional]` parts are left to the prose; only lines a reader would paste are
checked. Parsing runs nothing.
"""

from __future__ import annotations

import re
import shlex

import pytest

from markdown_pages import code_blocks, pages
from orchestrator.cli import build_parser

_SHELL = ("bash", "sh", "shell", "console")


def _command_lines() -> list[tuple[str, str]]:
    found = []
    for page in pages():
        for block in code_blocks(page):
            if block.language not in _SHELL:
                continue
            text = re.sub(r"\\\n\s*", " ", block.text)  # continued lines are one command
            for line in text.splitlines():
                if re.match(r"\s*avo\s", line) and "[" not in line.split("#")[0]:
                    found.append((block.where, line.strip()))
    return found


COMMAND_LINES = _command_lines()


def test_the_docs_have_command_lines() -> None:
    assert len(COMMAND_LINES) >= 6, COMMAND_LINES


@pytest.mark.parametrize(("where", "line"), COMMAND_LINES, ids=[f"{w} {l.split('#')[0].strip()}" for w, l in COMMAND_LINES])
def test_avo_accepts_the_command_line(where: str, line: str) -> None:
    argv = shlex.split(line, comments=True)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: avo refuses `{line}` (exit {exc.code})")
