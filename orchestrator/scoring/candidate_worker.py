"""The candidate's own process: imports the program once, then runs one call per request.

Started by :class:`orchestrator.scoring.candidate_process.CandidateProcess` as
``python3 -I candidate_worker.py PROGRAM READ_FD WRITE_FD``. The candidate shares
this process and may patch anything in it, so the scorer trusts nothing it says
except the bytes of a result, which it decodes with a restricted unpickler and
checks itself. The scorer's clock, its reference and its copies of the inputs
live in the other process.

Frames are a 4-byte big-endian length and a pickle, on two private pipes:
worker -> scorer ``("loaded", None | traceback)``; scorer -> worker ``(function,
args, kwargs, echo)``; worker -> scorer ``b"R"`` once the arguments are unpacked;
scorer -> worker ``b"G"``; worker -> scorer ``("ok", result) | ("error", traceback)``;
with ``echo``, then ``(arguments after the call, indices of those the result shares
memory with)`` (advisory: it catches honest in-place bugs; a hostile candidate could lie,
which is why the scorer checks results against its own copies).
Tensors cross as ``(TENSOR_TAG, dtype, shape, raw bytes)`` (torch's own pickles
would make the scorer run torch's loader on candidate bytes).

Standalone and stdlib-only at import: run with ``-I`` so neither the environment
nor the working directory puts anything on the path ahead of the standard library.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import struct
import sys
import traceback

TENSOR_TAG = "__avo_tensor__"
_HEADER = struct.Struct(">I")
_TRACEBACK_TAIL = 4000


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the scorer closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _send(fd: int, value: object) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _HEADER.pack(len(payload)) + payload)


def _portable(value: object) -> object:
    """``value`` with every torch tensor replaced by its dtype, shape and raw bytes."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        flat = value.detach().to("cpu").contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        return (TENSOR_TAG, str(value.dtype).removeprefix("torch."), list(value.shape), raw)
    if isinstance(value, (list, tuple)):
        items = [_portable(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {key: _portable(item) for key, item in value.items()}
    return value


def _candidate_traceback(error: BaseException) -> str:
    """The traceback without this worker's own frames (noise to whoever reads it), kept short."""
    summary = traceback.TracebackException.from_exception(error)
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if frame.filename != __file__ and "importlib._bootstrap" not in frame.filename])
    return "".join(summary.format())[-_TRACEBACK_TAIL:]


def _shares_memory(result: object, argument: object) -> bool:
    torch, numpy = sys.modules.get("torch"), sys.modules.get("numpy")
    if torch is not None and isinstance(result, torch.Tensor) and isinstance(argument, torch.Tensor):
        return result.untyped_storage().data_ptr() == argument.untyped_storage().data_ptr()
    if numpy is not None and isinstance(result, numpy.ndarray) and isinstance(argument, numpy.ndarray):
        return bool(numpy.shares_memory(result, argument))
    return result is argument and not isinstance(result, (int, float, str, bytes, bool, type(None)))


def _load(program: str) -> object:
    directory = os.path.dirname(os.path.abspath(program))
    sys.path.insert(0, directory)  # the candidate's own sibling modules (a multi-file solution)
    spec = importlib.util.spec_from_file_location("program", program)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {program}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["program"] = module
    spec.loader.exec_module(module)
    return module


def main(program: str, read_fd: int, write_fd: int) -> None:
    try:
        module = _load(program)
        _send(write_fd, ("loaded", None))
    except BaseException as exc:  # noqa: BLE001 - the candidate may raise anything at import, SystemExit too
        _send(write_fd, ("loaded", _candidate_traceback(exc)))
        os._exit(0)
    while True:
        try:
            (size,) = _HEADER.unpack(_read_exact(read_fd, _HEADER.size))
        except EOFError:
            os._exit(0)
        function, args, kwargs, echo = pickle.loads(_read_exact(read_fd, size))
        _write_all(write_fd, b"R")
        if _read_exact(read_fd, 1) != b"G":
            os._exit(1)
        result, target = None, getattr(module, function, None)
        if not callable(target):
            _send(write_fd, ("missing", function))
            continue
        try:
            result = target(*args, **kwargs)
            reply = ("ok", _portable(result))
        except BaseException as exc:  # noqa: BLE001
            reply = ("error", _candidate_traceback(exc))
        try:
            _send(write_fd, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            reply = ("error", f"the result cannot be sent back to the scorer: {exc}")
            _send(write_fd, reply)
        if echo and reply[0] == "ok":
            aliased = [index for index, argument in enumerate(args) if _shares_memory(result, argument)]
            _send(write_fd, (_portable(list(args)), aliased))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
