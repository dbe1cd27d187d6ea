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


def _frame(text: str) -> list[tuple[int, str]] | str:
    """The frozen lines with their numbers, each block's body replaced by one placeholder; or why
    the markers are unusable."""
    frame: list[tuple[int, str]] = []
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        match = _MARKER.search(line)
        kind = match.group(1) if match else None
        if kind == "START":
            if inside:
                return f"EVOLVE-BLOCK-START on line {number} opens a block inside another one"
            frame += [(number, line.rstrip()), (number + 1, _BLOCK)]
            inside = True
        elif kind == "END":
            if not inside:
                return f"EVOLVE-BLOCK-END on line {number} closes no block"
            frame.append((number, line.rstrip()))
            inside = False
        elif not inside:
            frame.append((number, line.rstrip()))
    if inside:
        return "an EVOLVE-BLOCK-START has no EVOLVE-BLOCK-END"
    while frame and not frame[-1][1]:
        frame.pop()
    return frame


def _shown(line: tuple[int, str] | None) -> str:
    if line is None:
        return "nothing (the end of the file)"
    return "a block's body" if line[1] == _BLOCK else repr(line[1][:120])


def outside_change(reference: str, candidate: str, name: str) -> str | None:
    """Why ``candidate`` changes ``name`` outside the evolve blocks of ``reference``; None if it
    does not (or ``reference`` has no blocks). The reason is what the agent (and, for a
    refused file, the user) is told: the first changed line outside the markers, both ways
    it reads, and the fix."""
    if not has_blocks(reference):
        return None
    frozen = _frame(reference)
    if isinstance(frozen, str):
        return None  # the committed version's own markers are unusable: nothing can be enforced
    changed = _frame(candidate)
    if isinstance(changed, str):
        return f"{name}: {changed}; keep the markers as they are and edit only between them"
    if [text for _, text in changed] == [text for _, text in frozen]:
        return None
    was, now = [text for _, text in frozen], [text for _, text in changed]
    index = next((i for i, (a, b) in enumerate(zip(was, now)) if a != b), min(len(was), len(now)))
    if now[index + 1:] == was[index:] or index == len(was):
        change = f"adds line {changed[index][0]}, {_shown(changed[index])}; remove it"
    elif was[index + 1:] == now[index:]:
        change = f"removes {_shown(frozen[index])} (line {frozen[index][0]} of the committed version); put it back"
    else:
        where = f"line {changed[index][0]}" if index < len(changed) else "its end"
        change = (f"has {_shown(changed[index] if index < len(changed) else None)} at {where} where the committed "
                  f"version has {_shown(frozen[index] if index < len(frozen) else None)}; restore that line")
    return (f"{name} changes code outside the EVOLVE-BLOCK-START/END markers: it {change}, and change only "
            "the code between the markers")


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
