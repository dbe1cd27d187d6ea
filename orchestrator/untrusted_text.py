"""Text a candidate (or a model) wrote, made safe to show: no terminal controls, valid XML 1.0.

A scorer commonly reports the candidate's own exception text as its correctness message,
so the candidate controls text that ``avo eval`` and ``avo rebench`` print and write.
An ANSI escape sequence in it would recolour or clear the terminal, move the cursor,
retitle the window or hide a link (OSC 8); a C0 character such as ``\\x01`` makes a JUnit
file invalid XML 1.0, so the CI page shows no results at all. :func:`plain` removes both
(whole sequences, so no ``[31m`` residue is left), once, where such text is shown or written.
"""

from __future__ import annotations

import re

__all__ = ["plain"]

#: ESC-introduced sequences (CSI, OSC, DCS/SOS/PM/APC with their terminators, two-byte ones) and C1 CSI.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -/]*[0-~])"
    r"|\x9b[0-?]*[ -/]*[@-~]")
#: Everything but tab, newline and the printable characters XML 1.0 allows: C0 (ESC, BEL, CR, ...),
#: DEL, C1, surrogates, U+FFFE and U+FFFF.
_UNSAFE = re.compile("[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def plain(text: str) -> str:
    """``text`` without escape sequences and without characters a terminal acts on or XML 1.0 forbids."""
    return _UNSAFE.sub("", _ESCAPE_SEQUENCE.sub("", text))
