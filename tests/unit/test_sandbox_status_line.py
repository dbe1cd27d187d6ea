"""The waiter's status line on stderr: found only whole, at the very end, with the call's token."""

from __future__ import annotations

import pytest

from sandbox.capture import CappedBuffer
from sandbox.backends.docker.wire import StatusLine

TOKEN = "0123456789abcdef0123456789abcdef"


def _feed(chunks: list[bytes], limit: int = 1000) -> tuple[int | None, CappedBuffer]:
    stderr = CappedBuffer(limit)
    line = StatusLine(TOKEN, stderr.write)
    for chunk in chunks:
        line.write(memoryview(chunk))
    return line.close(), stderr


def test_status_line_is_stripped_even_fed_byte_by_byte() -> None:
    data = b"warning: x\n" + f"{TOKEN} 3\n".encode()
    status, stderr = _feed([data[i:i + 1] for i in range(len(data))])
    assert (status, stderr.text()) == (3, "warning: x\n")


@pytest.mark.parametrize("tail", [
    b"",                                            # no line: the waiter was killed
    f"{TOKEN} 0\nlate output\n".encode(),           # not at the end: something wrote after it
    f"{TOKEN[:-1]}0 0\n".encode(),                  # another token
    f"{TOKEN} 256\n".encode(),                      # no exit status reads 256
    f"{TOKEN} 0".encode(),                          # cut short
])
def test_anything_but_a_final_line_with_the_token_is_passed_through(tail: bytes) -> None:
    status, stderr = _feed([b"err\n", tail])
    assert status is None
    assert stderr.text() == (b"err\n" + tail).decode()


def test_only_the_last_of_two_lines_counts() -> None:
    status, stderr = _feed([f"{TOKEN} 0\n".encode(), f"{TOKEN} 5\n".encode()])
    assert (status, stderr.text()) == (5, f"{TOKEN} 0\n")


@pytest.mark.parametrize("size", [10, 480, 500, 990, 1000, 5_000_000])
def test_flood_keeps_the_cap_exact_and_the_line_whole(size: int) -> None:
    """With the line across the cap's head/tail boundary (500 here), across its limit, far past it."""
    body = b"e" * (size - 4) + b"END\n"
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)] + [f"{TOKEN} 7\n".encode()]
    status, stderr = _feed(chunks)
    reference = CappedBuffer(1000)
    reference.write(body)
    assert status == 7
    assert (stderr.text(), stderr.truncated) == (reference.text(), reference.truncated)
