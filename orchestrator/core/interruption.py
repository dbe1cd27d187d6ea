"""Stopping a run on a signal, the way its sender expects.

Whoever sends SIGTERM (Slurm's ``scancel``, a cancelled CI job, systemd, Kubernetes,
``docker stop``) follows it with SIGKILL after a grace of 2.5 to 90 s, far shorter than a
step can last. So SIGTERM aborts the step in flight at once, by raising :class:`RunAborted`
in the main thread; so does SIGINT when no one is at a terminal (a CI runner's cancel).
Only Ctrl-C at a terminal (stdin is a TTY and this process is in its foreground process
group) asks the loop to stop after the current step, and a second Ctrl-C then aborts.

An abort arriving while a version is being persisted waits until the commit is whole
(milliseconds); one arriving while the run is closing is dropped. Either way the runner's
clean-up runs, so the run's containers, warm pools included, are removed: Python's default
SIGTERM action would end the process without running any of it.

Code that learns by other means that the run must end as if SIGTERM came (a cancelled
Slurm holder job) calls :func:`abort_run` from any thread.

The handler only sets plain attributes or raises: it runs between two bytecodes of the
main thread, which may hold any lock at that moment.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sandbox import host_link

__all__ = ["Interruption", "RunAborted", "SIGNALS", "abort_run", "at_terminal", "current"]

#: The signals handled.
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_POLL_S = 0.05
_active: Interruption | None = None  # the run of this process whose handlers are installed


def at_terminal() -> bool:
    """Whether a person at a terminal can have sent SIGINT: stdin is a TTY and this process is
    in the terminal's foreground process group (a background job or a CI runner is not)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def current() -> Interruption | None:
    """The interruption of the run in progress in this process, if one is handling signals
    (code that waits outside a step, e.g. for an allocation, watches its ``stop_requested``)."""
    return _active


def abort_run(by: str, signum: int = signal.SIGTERM) -> bool:
    """Abort the run in progress exactly as ``signum`` would, naming ``by`` as the cause in the
    run log (e.g. ``"scancel of Slurm job 12"``); callable from any thread. False, doing
    nothing, when no run of this process is handling signals."""
    interruption = _active
    if interruption is None:
        return False
    interruption.abort_cause = by
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signum)  # the handler runs in the main thread, like a real signal
    return True


class RunAborted(KeyboardInterrupt):
    """The run ended at once; ``signum`` is the signal that did it (exit status 128 + signum)
    and ``by`` what the run log calls its sender."""

    def __init__(self, signum: int, by: str) -> None:
        super().__init__(by)
        self.signum = signum
        self.by = by


class Interruption:
    """How one run reacts to SIGINT and SIGTERM: ``handling()`` installs it for the run's duration."""

    def __init__(self) -> None:
        self.requested_by: str | None = None  # the name of what asked to stop after the step, once asked
        self.abort_cause: str | None = None  # set by abort_run: the sender the next SIGTERM stands for
        self._aborted = False
        self._critical = 0
        self._pending: RunAborted | None = None

    @property
    def stop_requested(self) -> bool:
        return self.requested_by is not None

    def request_stop(self, by: str = "Ctrl-C") -> None:
        """Stop after the current step (what the first Ctrl-C at a terminal does)."""
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
        global _active
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in SIGNALS}
        outer, _active = _active, self
        try:
            with host_link.linked(self._abort_if_stopping, self._abort_from_elsewhere):
                yield
        finally:
            _active = outer
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _abort_if_stopping(self) -> None:
        """The sandbox's waits outside a step (the Slurm queue): any stop request ends them at once."""
        if self.requested_by is not None:
            raise RunAborted(signal.SIGINT, self.requested_by)

    def _abort_from_elsewhere(self, detail: str) -> None:
        """Abort as SIGTERM does (a user cancelled the run's Slurm job); callable from any thread."""
        print(f"avo: {detail}: aborting the run as on SIGTERM", file=sys.stderr)
        abort_run(detail)

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
            raise pending

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._aborted:
            return  # one abort is under way: its clean-up must run to the end
        if signum == signal.SIGINT and at_terminal():
            if not self.stop_requested:
                self.request_stop("Ctrl-C")
                print("avo: Ctrl-C: stopping after the current step (Ctrl-C again to abort)", file=sys.stderr)
                return
            by = "second Ctrl-C"
        elif signum == signal.SIGTERM:
            by, self.abort_cause = self.abort_cause or "SIGTERM", None
        else:
            by = "SIGINT"
        self._aborted = True
        aborted = RunAborted(signum, by)
        if self._critical:
            self._pending = aborted
        else:
            raise aborted
