"""Bounded output capture: head and tail kept, the middle marked."""

from __future__ import annotations

from sandbox.capture import CappedBuffer


def test_small_output_is_kept_whole() -> None:
    buffer = CappedBuffer(100)
    buffer.write(b"hello ")
    buffer.write(b"world")
    assert buffer.text() == "hello world"
    assert not buffer.truncated


def test_flood_keeps_head_and_tail_with_a_marker() -> None:
    buffer = CappedBuffer(1000)
    buffer.write(b"START")
    for _ in range(10_000):
        buffer.write(b"x" * 100)
    buffer.write(b"END")
    text = buffer.text()
    assert buffer.truncated
    assert text.startswith("START") and text.endswith("END")
    assert "bytes truncated ...]" in text
    assert len(text) <= 1000 + 64
    dropped = 5 + 10_000 * 100 + 3 - 1000
    assert f"[... {dropped} bytes truncated ...]" in text


def test_invalid_utf8_is_replaced_not_raised() -> None:
    buffer = CappedBuffer(100)
    buffer.write(b"\xff\xfeok")
    assert buffer.text().endswith("ok")
