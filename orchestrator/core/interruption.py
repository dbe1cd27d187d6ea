"""Stopping a run on a signal: SIGINT (Ctrl-C) and SIGTERM (a systemd stop, a cancelled CI
job, Slurm's ``scancel``) alike.

The first signal asks the loop to stop after the current step (a pause between failed
steps is cut short). A second one aborts at once by raising :class:`RunAborted` in the
main thread, except while a version is being persisted (the abort then waits until
the commit is whole) or while the run is closing. Either way the runner's clean-up
runs, so the run's containers, warm pools included, are removed: Python's default
SIGTERM action would end the process without running any of it.

The handler only sets plain attributes: it runs between two bytecodes of the main
thread, which may hold any lock at that moment.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sandbox import host_link

__all__ = ["Interruption", "RunAborted", "SIGNALS"]

#: The signals handled, with the name a user knows each by.
SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
_SIGNUMS = {name: signum for signum, name in SIGNALS.items()}
_POLL_S = 0.05


class RunAborted(KeyboardInterrupt):
    """A second signal ended the run at once; ``signum`` is that signal (exit status 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"second signal: {SIGNALS.get(signum, signum)}")
        self.signum = signum


class Interruption:
    """The two-stage stop of one run: ``handling()`` installs it for the run's duration."""

    def __init__(self) -> None:
        self.requested_by: str | None = None  # the name of what asked to stop, once asked
        self._critical = 0
        self._pending: int | None = None

    @property
    def stop_requested(self) -> bool:
        return self.requested_by is not None

    def request_stop(self, by: str = "Ctrl-C") -> None:
        """Stop after the current step (what the first signal does)."""
        if self.requested_by is None:
            self.requested_by = by

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, returning early once a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.stop_requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, _POLL_S))

    @contextmanager
    def handling(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM while the block runs (main thread only: Python delivers
        signals there, and a runner in another thread leaves them to its host program)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in SIGNALS}
        try:
            with host_link.linked(self._abort_if_stopping, self._abort_from_elsewhere):
                yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _abort_if_stopping(self) -> None:
        """The sandbox's waits outside a step (the Slurm queue): any stop request ends them at once."""
        if self.requested_by is not None:
            raise RunAborted(_SIGNUMS.get(self.requested_by, signal.SIGINT))

    def _abort_from_elsewhere(self, detail: str) -> None:
        """Abort as SIGTERM does (a user cancelled the run's Slurm job); callable from any thread."""
        print(f"avo: {detail}: aborting the run as on SIGTERM", file=sys.stderr)
        self.request_stop(detail)  # so that the signal below aborts rather than asks
        main = threading.main_thread().ident
        assert main is not None
        signal.pthread_kill(main, signal.SIGTERM)

    def critical(self) -> AbstractContextManager[None]:
        """An abort arriving inside waits for the block to finish, then is raised."""
        return self._deferring(then_raise=True)

    def closing(self) -> AbstractContextManager[None]:
        """The run's clean-up: an abort arriving inside is dropped (the run is ending anyway)."""
        return self._deferring(then_raise=False)

    @contextmanager
    def _deferring(self, *, then_raise: bool) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
            pending = self._pending if not self._critical else None
            if pending is not None:
                self._pending = None
        if then_raise and pending is not None:
            raise RunAborted(pending)

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = SIGNALS.get(signum, str(signum))
        if not self.stop_requested:
            self.request_stop(name)
            print(f"avo: {name}: stopping after the current step ({name} again to abort)", file=sys.stderr)
        elif self._critical:
            self._pending = signum
        else:
            raise RunAborted(signum)
