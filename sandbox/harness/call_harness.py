"""In-container call harness: runs one method of the user's scorer and frames its result.

Run as ``python3 /opt/avo/harness/call_harness.py`` with one JSON request on stdin:
``{"sys_path", "module_file", "class_name", "method", "kwargs", "seed", "nonce"}`` and
optionally ``init_kwargs`` (for the class), ``sys_path_after`` (entries searched after
site-packages: stand-ins that an installed package should win over) and ``environment``
(variables set before the scorer is imported).
The last thing written to stdout is ``nonce + json + nonce`` where json is
``{"result": ...}`` or ``{"harness_error": "traceback tail"}``.

Why two processes: the scorer imports and runs the candidate in its own process,
so anything that process holds, the candidate can read. This parent keeps the
nonce and starts a fresh interpreter for the scorer without it; the child hands
its result back on a private socket, and only the parent writes the frame. A
candidate printing a fake result cannot guess the nonce.

Standalone and stdlib-only: it is mounted read-only into the sandbox and must not
depend on anything the image or the workspace provides.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import traceback

_CHILD_FLAG = "--child"
#: The peers' packages, by the interface whose evaluators import them.
_PEER_INTERFACES = {"openevolve": "OpenEvolve", "shinka": "ShinkaEvolve"}
_TRACEBACK_TAIL = 4000


def _seed_generators(seed: int) -> None:
    """Seed Python's generator, and NumPy's and PyTorch's when the scorer imported them
    (importing torch only to seed it would cost seconds per call)."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _jsonable(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _run_scorer(request: dict) -> object:
    for entry in reversed(request.get("sys_path", [])):
        sys.path.insert(0, entry)
    sys.path.extend(request.get("sys_path_after", []))
    sys.path.append(os.getcwd())  # lets a scorer `import solution`, after everything else
    os.environ.update(request.get("environment", {}))
    spec = importlib.util.spec_from_file_location("avo_user_scorer", request["module_file"])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the scorer from {request['module_file']}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    name = os.path.basename(request["module_file"])
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        peer = (exc.name or "").split(".")[0]
        if peer in _PEER_INTERFACES:
            raise ModuleNotFoundError(f"{name} imports {exc.name}, as a {_PEER_INTERFACES[peer]} evaluator does: "
                                      f"add `interface: {peer}` under `scoring:` in the config") from None
        raise
    _seed_generators(int(request["seed"]))
    scoring_class = getattr(module, request["class_name"], None)
    if scoring_class is None:
        raise AttributeError(f"{name} defines no class {request['class_name']}; {_what_it_looks_like(module)}")
    scorer = scoring_class(**request.get("init_kwargs", {}))
    return _jsonable(getattr(scorer, request["method"])(**request.get("kwargs", {})))


def _what_it_looks_like(module: object) -> str:
    """The fix for a scorer module without the configured class: the peer interface it looks
    written for, or the class it does define."""
    if any(callable(getattr(module, name, None)) for name in ("evaluate", "evaluate_stage1")):
        return ("it defines evaluate(program_path), as an OpenEvolve evaluator does: add `interface: openevolve` "
                "under `scoring:` in the config")
    main = getattr(module, "main", None)
    if callable(main) and "results_dir" in getattr(getattr(main, "__code__", None), "co_varnames", ()):
        return ("it defines main(program_path, results_dir), as a ShinkaEvolve evaluate.py does: add "
                "`interface: shinka` under `scoring:` in the config")
    classes = [name for name, value in vars(module).items()
               if isinstance(value, type) and value.__module__ == getattr(module, "__name__", None)
               and callable(getattr(value, "evaluate", None))]
    if classes:
        return f"did you mean `scoring_class: {classes[0]}` in the config?"
    return "define it (a ScoringFunction subclass), or name yours with `scoring_class:` in the config"


def _child(result_fd: int) -> None:
    """Run the scorer; write ``{"result"|"harness_error": ...}`` to the private socket.

    Before any user code runs, this process turns non-dumpable (a program the scorer starts,
    same uid, cannot read its memory or environment through ``/proc``) and
    makes the socket non-inheritable (``os.system`` and ``exec`` do not hand it on)."""
    _hide_from_other_processes()
    os.set_inheritable(result_fd, False)
    request = json.loads(sys.stdin.read())
    try:
        reply = {"result": _run_scorer(request)}
        payload = json.dumps(reply)
    except BaseException:  # noqa: BLE001 - a scorer (or a candidate) may raise anything, SystemExit included
        payload = json.dumps({"harness_error": traceback.format_exc()[-_TRACEBACK_TAIL:]})
    sys.stdout.flush()
    sys.stderr.flush()
    with os.fdopen(result_fd, "w", encoding="utf-8") as pipe:
        pipe.write(payload)
    os._exit(0)  # skip atexit handlers a candidate may have registered


def _hide_from_other_processes() -> None:
    """Make this process non-dumpable, so a process of the same uid (the scorer's, a candidate's)
    cannot open its ``/proc/<pid>/mem`` or ``environ`` (nor, under runc, ``fd/*``): the parent's
    nonce stays private. Best effort: off Linux this is a no-op."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def _parent() -> int:
    _hide_from_other_processes()
    request = json.loads(sys.stdin.read())
    nonce = str(request.pop("nonce"))
    # A socket pair, not a pipe: a pipe can be reopened through /proc/<pid>/fd/<n> by any process that
    # may look there (gVisor lets a non-dumpable process's fds be opened), a socket never can.
    read_fd, write_fd = (end.detach() for end in socket.socketpair())
    child = subprocess.Popen(
        # -I: neither the environment nor a working directory puts anything on the scorer's path or runs
        # at start-up (a sitecustomize.py or a .pth among the candidate's files); -B: no bytecode written;
        # -u: what the scorer and the candidate print is not lost when one of them calls os._exit.
        [sys.executable, "-I", "-B", "-u", os.path.abspath(__file__), _CHILD_FLAG, str(write_fd)],
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    child.stdin.write(json.dumps(request).encode())
    child.stdin.close()
    with os.fdopen(read_fd, encoding="utf-8") as pipe:
        payload = pipe.read()
    code = child.wait()
    try:
        if code != 0:  # killed (a signal) or crashed: what is in the socket may be anyone's
            raise ValueError("the scorer process did not exit cleanly")
        reply = json.loads(payload)
        if not isinstance(reply, dict) or not ({"result", "harness_error"} & reply.keys()):
            raise ValueError("no result")
    except ValueError:
        ended = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        reply = {"harness_error": f"the scorer process {ended} before returning a result"}
    sys.stdout.flush()
    sys.stdout.write(nonce + json.dumps(reply) + nonce)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == _CHILD_FLAG:
        _child(int(sys.argv[2]))
    sys.exit(_parent())
