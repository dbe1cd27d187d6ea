"""What the host program (avo's run loop) and the sandbox's long waits tell each other about stopping.

``sandbox`` never imports the orchestrator, yet two things cross that line:

- a wait that can last hours (a Slurm allocation pending in the queue) must end as soon
  as the user asks the run to stop, whatever stage of stopping the host is in: the wait
  calls :func:`check_stop`, which runs the host's check (it raises the host's own
  exception, e.g. the run's abort, when a stop is requested);
- a user who ends the run's own allocation (``scancel`` of its holder job) means "stop
  this run": the slurm backend calls :func:`allocation_cancelled`, and the host reacts
  as it does to SIGTERM.

The host registers both with :func:`linked` for as long as it handles signals; without
a host (a library user) the checks do nothing and a cancelled allocation only fails
the calls that need it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_check: Callable[[], None] | None = None
_cancelled: Callable[[str], None] | None = None


@contextmanager
def linked(check: Callable[[], None], on_cancelled: Callable[[str], None]) -> Iterator[None]:
    """Register the host's stop check and its reaction to a cancelled allocation for the block."""
    global _check, _cancelled
    previous = _check, _cancelled
    _check, _cancelled = check, on_cancelled
    try:
        yield
    finally:
        _check, _cancelled = previous


def check_stop() -> None:
    """Raise the host's exception if it asked to stop (called by waits between two looks)."""
    if _check is not None:
        _check()


def allocation_cancelled(detail: str) -> None:
    """Tell the host that a user cancelled the run's allocation (``detail`` says which and how)."""
    if _cancelled is not None:
        _cancelled(detail)
