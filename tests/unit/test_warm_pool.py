"""The pool hands each item out at most once and disposes of everything it held."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from sandbox import SandboxClosed
from sandbox.warm_pool import WarmPool


def _wait_until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_items_are_handed_out_once_and_retired_ones_disposed() -> None:
    counter = itertools.count()
    created: list[int] = []
    disposed: list[int] = []
    lock = threading.Lock()

    def create() -> int:
        with lock:
            created.append(next(counter))
            return created[-1]

    def dispose(item: int) -> None:
        with lock:
            disposed.append(item)

    pool = WarmPool(2, create, dispose)
    taken: list[int] = []
    for _ in range(6):
        _wait_until(lambda: pool.ready == 2)
        item = pool.take()
        assert item is not None
        taken.append(item)
        pool.retire(item)
    assert len(set(taken)) == 6
    pool.close()
    pool.close()
    assert sorted(disposed) == sorted(created)  # each exactly once: retired or still ready


def test_empty_pool_answers_none_instead_of_waiting() -> None:
    release = threading.Event()
    pool = WarmPool(1, lambda: release.wait() or object(), lambda item: None)
    assert pool.take() is None
    release.set()
    pool.close()
    with pytest.raises(SandboxClosed):
        pool.take()


def test_failed_refill_is_retried() -> None:
    attempts = itertools.count()

    def flaky() -> int:
        if next(attempts) == 0:
            raise RuntimeError("daemon restarting")
        return 1

    pool = WarmPool(1, flaky, lambda item: None)
    _wait_until(lambda: pool.ready == 1)
    pool.close()
