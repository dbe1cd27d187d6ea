"""The two-stage stop with real signals sent to this process: stop, then abort, never mid-commit."""

from __future__ import annotations

import os
import signal
import time

import pytest

from orchestrator.core.interruption import Interruption, RunAborted


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # the handler runs between two bytecodes of this (main) thread


@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_first_signal_stops_after_the_step_second_aborts(signum: int, name: str) -> None:
    interruption = Interruption()
    with interruption.handling():
        send(signum)
        assert interruption.requested_by == name
        started = time.monotonic()
        interruption.pause(30)  # a pause between failed steps ends at once once a stop is asked
        assert time.monotonic() - started < 1
        with pytest.raises(RunAborted) as aborted:
            send(signum)
    assert aborted.value.signum == signum and str(aborted.value) == f"second signal: {name}"
    assert signal.getsignal(signum) is not interruption._on_signal  # the previous handler is back


def test_an_abort_waits_for_the_commit_and_is_dropped_during_clean_up() -> None:
    interruption = Interruption()
    with interruption.handling():
        send(signal.SIGTERM)
        committed = False
        with pytest.raises(RunAborted):
            with interruption.critical():
                send(signal.SIGTERM)
                committed = True  # still running: the abort waits for the block
        assert committed
        with interruption.closing():
            send(signal.SIGTERM)
        # nothing raised: the clean-up ran to its end
