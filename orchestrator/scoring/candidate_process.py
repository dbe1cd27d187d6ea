"""A candidate program in its own interpreter, timed with a clock it cannot reach.

A candidate imported into the scorer's process can rebind the clock the scorer
reads, patch the scorer's checks or read its reference. Here the candidate is
loaded by ``candidate_worker.py`` in a separate process started with ``-I``; the
scorer's process marks itself non-dumpable first, so the candidate (same uid)
cannot read or write its memory through ``/proc``. Each call is timed in the
scorer's process from the moment it releases the call until the whole result has
arrived, so a worker that reports early cannot shorten its time. Results are
decoded with a restricted unpickler (numbers, strings, containers, NumPy arrays,
tensors as raw bytes): decoding a result never runs code of the candidate's choosing.

The measured time includes one pipe round trip and the result's transfer (tens of
microseconds plus the result's size at memory speed): time calls of at least
milliseconds, or several calls per request.

Runs inside the sandbox; standard library only (NumPy and torch when the results hold them).
"""

from __future__ import annotations

import fcntl
import io
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from orchestrator.scoring.candidate_worker import TENSOR_TAG

__all__ = ["CandidateError", "CandidateProcess", "CandidateTimeout", "Echoed", "Timed", "hide_this_process"]

WORKER = Path(__file__).with_name("candidate_worker.py")
_clock = time.perf_counter  # this process never runs candidate code, so nothing can rebind it

#: Globals a result may name: container and number types, and how NumPy pickles arrays and scalars.
_ALLOWED_GLOBALS = {
    ("builtins", name) for name in ("complex", "set", "frozenset", "slice", "range", "bytearray")
} | {("collections", "OrderedDict"), ("numpy", "dtype"), ("numpy", "ndarray")} | {
    (f"numpy.{core}.{module}", name)
    for core in ("core", "_core")
    for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
}


class CandidateError(RuntimeError):
    """The candidate failed: it did not import, raised, or returned something undecodable."""


class CandidateTimeout(CandidateError, TimeoutError):
    """A call (or the import) ran past its deadline; the worker was killed."""


class Timed(NamedTuple):
    """A call's result and the seconds the scorer's clock measured for it."""

    result: Any
    seconds: float


class Echoed(NamedTuple):
    """A call's result and time, with its arguments as the worker saw them after the call and the
    indices of the arguments the result shared memory with (the worker's word: advisory)."""

    result: Any
    seconds: float
    arguments: list[Any]
    aliased: list[int]


class _ResultUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise CandidateError(f"the result holds a {module}.{name}, which cannot cross to the scorer "
                                 "(return numbers, strings, lists, tuples, dicts, NumPy arrays or tensors)")
        return super().find_class(module, name)


def _widen(fd: int) -> None:
    """Give a pipe the largest buffer the host allows (1 MiB by default, against 64 KiB), so a result
    crosses in a few writes rather than hundreds of context switches inside the timed interval."""
    try:
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), limit)
    except (OSError, ValueError):
        pass


def hide_this_process() -> None:
    """Make this process non-dumpable so a process of the same uid cannot read or write its
    memory (``/proc/<pid>/mem``) or attach to it. Best effort: a no-op off Linux."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def _decode(payload: bytes) -> Any:
    try:
        return _rebuild_tensors(_ResultUnpickler(io.BytesIO(payload)).load())
    except CandidateError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile payload may fail in any way
        raise CandidateError(f"the candidate's result could not be decoded: {type(exc).__name__}: {exc}") from None


def _rebuild_tensors(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 4 and value[0] == TENSOR_TAG:
        import torch

        _, dtype, shape, raw = value
        if not (isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype)):
            raise CandidateError(f"the result names an unknown tensor dtype {dtype!r}")
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        return flat.view(getattr(torch, dtype)).reshape([int(n) for n in shape])
    if isinstance(value, list):
        return [_rebuild_tensors(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_rebuild_tensors(item) for item in value)
    if isinstance(value, dict):
        return {key: _rebuild_tensors(item) for key, item in value.items()}
    return value


class CandidateProcess:
    """One candidate program loaded in a worker process; :meth:`call` runs a function of it.

    ``timeout_s`` bounds the import and each call: past it the worker is killed and
    :class:`CandidateTimeout` raised. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, program: str | Path, *, timeout_s: float | None = None) -> None:
        hide_this_process()
        self.program = str(program)
        self.timeout_s = timeout_s
        to_worker_r, self._to_worker = os.pipe()
        self._from_worker, from_worker_w = os.pipe()
        for fd in (self._to_worker, self._from_worker):
            _widen(fd)
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", str(WORKER), self.program, str(to_worker_r), str(from_worker_w)],
            pass_fds=(to_worker_r, from_worker_w), stdin=subprocess.DEVNULL, start_new_session=True,
        )
        os.close(to_worker_r)
        os.close(from_worker_w)
        try:
            status, problem = self._unpack(self._read_frame(self._deadline()))
            if status != "loaded" or problem is not None:
                raise CandidateError(f"importing the program raised an exception:\n{problem}")
        except BaseException:
            self.close()
            raise

    def call(self, function: str, *args: Any, **kwargs: Any) -> Timed:
        """Run ``function(*args, **kwargs)`` in the worker; the time excludes sending the arguments."""
        return self._call(function, args, kwargs, echo=False)

    def call_and_echo(self, function: str, *args: Any) -> Echoed:
        """:meth:`call`, then the arguments as they were after it (sent after the time was taken),
        so a scorer can check that the candidate left its inputs unchanged."""
        timed = self._call(function, args, {}, echo=True)
        arguments, aliased = self._unpack(self._read_frame(self._deadline()))
        if not (isinstance(arguments, list) and isinstance(aliased, list)):
            raise CandidateError("the candidate process broke the call protocol")
        return Echoed(timed.result, timed.seconds, arguments, [int(index) for index in aliased])

    def _call(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, echo: bool) -> Timed:
        if self._process is None:
            raise CandidateError("the candidate process is closed")
        payload = pickle.dumps((function, args, kwargs, echo), protocol=pickle.HIGHEST_PROTOCOL)
        deadline = self._deadline()
        self._write(len(payload).to_bytes(4, "big") + payload)
        if self._read(1, deadline) != b"R":
            raise CandidateError("the candidate process broke the call protocol")
        started = _clock()
        self._write(b"G")
        payload = self._read_frame(deadline)
        seconds = _clock() - started
        status, value = self._unpack(payload)
        if status == "missing":
            raise CandidateError(f"the program does not define a function `{function}`")
        if status == "error":
            raise CandidateError(str(value))
        if status != "ok":
            raise CandidateError("the candidate process broke the call protocol")
        return Timed(value, seconds)

    def close(self) -> None:
        """Kill the worker's whole session and close the pipes; safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()

    def __enter__(self) -> "CandidateProcess":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _deadline(self) -> float | None:
        return None if self.timeout_s is None else time.monotonic() + self.timeout_s

    def _write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._to_worker, view):]
        except BrokenPipeError:
            raise CandidateError(f"the candidate process exited ({self._exit_status()})") from None

    def _read(self, size: int, deadline: float | None) -> bytes:
        chunks: list[bytes] = []
        while size:
            wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            poller = select.poll()  # not select(): gVisor's seccomp filter refuses it (EPERM)
            poller.register(self._from_worker, select.POLLIN)
            if not poller.poll(None if wait is None else wait * 1000):
                self.close()
                raise CandidateTimeout(f"the candidate did not finish within {self.timeout_s:g} s")
            chunk = os.read(self._from_worker, min(size, 1 << 20))
            if not chunk:
                raise CandidateError(f"the candidate process exited ({self._exit_status()})")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float | None) -> bytes:
        return self._read(int.from_bytes(self._read(4, deadline), "big"), deadline)

    @staticmethod
    def _unpack(payload: bytes) -> tuple[Any, Any]:
        reply = _decode(payload)
        if not (isinstance(reply, tuple) and len(reply) == 2):
            raise CandidateError("the candidate process broke the call protocol")
        return reply

    def _exit_status(self) -> str:
        process = self._process
        if process is None:
            return "closed"
        try:
            code = process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"
