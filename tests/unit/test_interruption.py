"""Stopping a run, with real signals sent to this process: SIGTERM and SIGINT away from a terminal
abort at once, Ctrl-C at a terminal stops after the step, and never mid-commit.

Whether a terminal is there is decided by ``at_terminal``, tested on a real pseudo-terminal
below; the loop's reaction is tested with that answer fixed either way.
"""

from __future__ import annotations

import os
import pty
import signal
import threading
import time

import pytest

from orchestrator.core import interruption as module
from orchestrator.core.interruption import Interruption, RunAborted, abort_run, at_terminal, current


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # the handler runs between two bytecodes of this (main) thread


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "at_terminal", lambda: True)


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "at_terminal", lambda: False)


@pytest.mark.parametrize("signum, by", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_sigterm_and_sigint_away_from_a_terminal_abort_at_once(no_terminal: None, signum: int, by: str) -> None:
    interruption = Interruption()
    with interruption.handling():
        assert current() is interruption
        with pytest.raises(RunAborted) as aborted:
            send(signum)
        assert not interruption.stop_requested
        send(signal.SIGTERM)  # the abort under way is not aborted again: its clean-up must finish
    assert aborted.value.signum == signum and aborted.value.by == by == str(aborted.value)
    assert current() is None
    assert signal.getsignal(signum) is not interruption._on_signal  # the previous handler is back


def test_ctrl_c_at_a_terminal_stops_after_the_step_and_a_second_aborts(terminal: None) -> None:
    interruption = Interruption()
    with interruption.handling():
        send(signal.SIGINT)
        assert interruption.requested_by == "Ctrl-C"
        started = time.monotonic()
        interruption.pause(30)  # a pause between failed steps ends at once once a stop is asked
        assert time.monotonic() - started < 1
        with pytest.raises(RunAborted) as aborted:
            send(signal.SIGINT)
    assert (aborted.value.signum, aborted.value.by) == (signal.SIGINT, "second Ctrl-C")


def test_sigterm_after_a_ctrl_c_at_a_terminal_aborts(terminal: None) -> None:
    interruption = Interruption()
    with interruption.handling():
        send(signal.SIGINT)
        with pytest.raises(RunAborted) as aborted:
            send(signal.SIGTERM)
    assert aborted.value.signum == signal.SIGTERM


def test_an_abort_waits_for_the_commit_and_is_dropped_during_clean_up(no_terminal: None) -> None:
    interruption = Interruption()
    with interruption.handling():
        committed = False
        with pytest.raises(RunAborted):
            with interruption.critical():
                send(signal.SIGTERM)
                committed = True  # still running: the abort waits for the block
        assert committed
    closing = Interruption()
    with closing.handling():
        with closing.closing():
            send(signal.SIGTERM)
        # nothing raised: the clean-up ran to its end


def test_abort_run_from_another_thread_aborts_like_sigterm_naming_its_cause(no_terminal: None) -> None:
    assert abort_run("scancel of Slurm job 7") is False  # no run here: nothing happens
    interruption = Interruption()
    with interruption.handling():
        with pytest.raises(RunAborted) as aborted:
            worker = threading.Thread(target=abort_run, args=("scancel of Slurm job 7",))
            worker.start()
            worker.join()
            time.sleep(0.05)
    assert (aborted.value.signum, aborted.value.by) == (signal.SIGTERM, "scancel of Slurm job 7")


def _at_terminal_in_child(*, background: bool) -> bool:
    """``at_terminal()`` in a child whose stdin is a real pseudo-terminal it controls."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader in the terminal's foreground group
        if background:
            child = os.fork()  # a new group in the same session is not the foreground one
            if child:
                os.waitpid(child, 0)
                os._exit(0)
            os.setpgid(0, 0)
        os.write(1, b"yes\n" if at_terminal() else b"no\n")
        os._exit(0)
    output = b""
    try:
        while chunk := os.read(fd, 64):
            output += chunk
    except OSError:  # EIO once the child's side is closed
        pass
    os.waitpid(pid, 0)
    os.close(fd)
    return output.strip().endswith(b"yes")


def test_at_terminal_means_a_tty_on_stdin_and_the_foreground_group() -> None:
    assert _at_terminal_in_child(background=False)
    assert not _at_terminal_in_child(background=True)
    with open(os.devnull) as devnull:
        saved = os.dup(0)
        os.dup2(devnull.fileno(), 0)
        try:
            assert not at_terminal()
        finally:
            os.dup2(saved, 0)
            os.close(saved)
