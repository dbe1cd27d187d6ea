"""Keeping long text within a budget: the head and the tail survive, the middle goes.

Compiler errors and test failures tend to sit at the start or the end of an output,
so both ends are kept and the omission is stated where it happened.
"""

from __future__ import annotations


def truncate_middle(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else head + marker + tail."""
    if len(text) <= limit:
        return text
    marker = "\n[... {} characters omitted ...]\n"
    keep = max(limit - len(marker.format(len(text))), 0)
    head = keep * 2 // 3
    tail = keep - head
    omitted = len(text) - head - tail
    return text[:head] + marker.format(omitted) + (text[-tail:] if tail else "")
