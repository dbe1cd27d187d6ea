"""OpenEvolve's and ShinkaEvolve's ``EVOLVE-BLOCK-START`` / ``EVOLVE-BLOCK-END`` markers.

A solution holding the markers may change only what lies between them: the rest
(imports the evaluator relies on, the entry point it calls, the markers themselves)
is frozen. The marker may follow any comment leader (``#``, ``//``, ``--``, ``!``...).
The check is a comparison of text on the host; nothing is run. Lines are compared
without trailing whitespace, and trailing blank lines do not count.
"""

from __future__ import annotations

import re

from orchestrator.core.solution_layout import Candidate

__all__ = ["candidate_outside_change", "has_blocks", "outside_change"]

_MARKER = re.compile(r"EVOLVE-BLOCK-(START|END)\b")
_BLOCK = "\x00evolve-block\x00"


def has_blocks(text: str) -> bool:
    """Whether ``text`` holds at least one ``EVOLVE-BLOCK-START`` marker."""
    return any(match.group(1) == "START" for match in _MARKER.finditer(text))


def _frame(text: str) -> list[str] | str:
    """The frozen lines, each block's body replaced by one placeholder; or why the markers are unusable."""
    frame: list[str] = []
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        match = _MARKER.search(line)
        kind = match.group(1) if match else None
        if kind == "START":
            if inside:
                return f"EVOLVE-BLOCK-START on line {number} opens a block inside another one"
            frame += [line.rstrip(), _BLOCK]
            inside = True
        elif kind == "END":
            if not inside:
                return f"EVOLVE-BLOCK-END on line {number} closes no block"
            frame.append(line.rstrip())
            inside = False
        elif not inside:
            frame.append(line.rstrip())
    if inside:
        return "an EVOLVE-BLOCK-START has no EVOLVE-BLOCK-END"
    while frame and not frame[-1]:
        frame.pop()
    return frame


def outside_change(reference: str, candidate: str, name: str) -> str | None:
    """Why ``candidate`` changes ``name`` outside the evolve blocks of ``reference``; None if it
    does not (or ``reference`` has no blocks). The reason is what the agent is told."""
    if not has_blocks(reference):
        return None
    frozen = _frame(reference)
    if isinstance(frozen, str):
        return None  # the committed version's own markers are unusable: nothing can be enforced
    changed = _frame(candidate)
    if isinstance(changed, str):
        return f"{name}: {changed}; keep the markers as they are and edit only between them"
    if changed == frozen:
        return None
    line = next((i for i, (a, b) in enumerate(zip(frozen, changed)) if a != b), min(len(frozen), len(changed)))
    shown = changed[line] if line < len(changed) else "(end of file)"
    shown = "(a block's body)" if shown == _BLOCK else repr(shown[:120])
    return (f"{name} changes code outside the EVOLVE-BLOCK-START/END markers (first difference at {shown}); "
            "only the code between the markers may change")


def candidate_outside_change(reference: Candidate, candidate: Candidate, name: str) -> str | None:
    """:func:`outside_change` over a whole candidate: its file, or each file of a directory solution
    (a file holding markers may not be removed; files without markers change freely)."""
    if not reference.files:
        return outside_change(reference.source, candidate.source, name)
    for path, text in reference.files.items():
        problem = outside_change(text, candidate.files.get(path, ""), f"{name.rstrip('/')}/{path}")
        if problem:
            return problem
    return None
