"""The sandbox's subcommands of ``avo``: ``sandbox exec``, ``gc`` and ``image``.

``avo``'s CLI calls :func:`register` with its subparsers; each subcommand sets
``func(args) -> int``. A fault prints one line naming its fix (never a
traceback): ``sandbox exec``, which relays its command's exit status, exits 125 (what
``docker run`` uses for its own errors, so it cannot be confused with the command's);
``gc`` and ``image`` exit 2, like every other user error of ``avo``. SIGTERM or Ctrl-C during
``sandbox exec`` removes the call's container, then exits 128 + the signal.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import SandboxError
from .facade import exec_once, gc
from .policy import SandboxPolicy

EXIT_SANDBOX_ERROR = 125
EXIT_USER_ERROR = 2
IMAGES = ("avo-sandbox:cpu", "avo-sandbox:gpu")
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def register(subparsers: argparse._SubParsersAction,
             policy_loader: Callable[[Path], SandboxPolicy] | None = None) -> None:
    """Add ``sandbox exec``, ``gc`` and ``image`` to ``avo``'s subcommands. ``policy_loader`` reads
    the sandbox policy out of a run's config file, for ``avo image build|status CONFIG`` (the
    sandbox package does not know the config's format)."""
    sandbox = subparsers.add_parser("sandbox", help="run commands in a disposable container")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    run = sandbox_commands.add_parser(
        "exec", help="run CMD in one disposable container and exit with its status",
        description="Runs CMD in one fresh hardened container with the workspace at /workspace; "
                    "relays its output and exits with its status (124 timeout, 137 OOM kill).")
    run.add_argument("--workspace", type=Path, required=True, help="host directory mounted at /workspace")
    run.add_argument("--timeout", type=float, help="seconds before the whole container is killed")
    run.add_argument("--memory", help="memory limit (swap equals it), e.g. 512m, 2g")
    run.add_argument("--network", choices=["none", "bridge"], help="network (default none)")
    run.add_argument("--gpus", help="none | all | count=N | device ids like 0 or 0,1 (a bare number names a device)")
    run.add_argument("--allow-all-gpus", action="store_true", help="accept --gpus all (a host that is yours alone)")
    run.add_argument("--image", help="sandbox image (default avo-sandbox:cpu)")
    run.add_argument("--backend", choices=["docker", "local", "broker", "slurm"],
                     help="broker = through the host's avo-sandboxd; slurm = a job step on a compute node; "
                          "local = NO isolation, development only")
    run.add_argument("--broker-socket", help="the broker's socket (default /run/avo/sandboxd.sock)")
    run.add_argument("--no-wait", action="store_true",
                     help="broker: fail at once instead of waiting for a busy GPU or container slot")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    run.set_defaults(func=_guarded(_exec))

    collect = subparsers.add_parser(
        "gc", help="remove leftover sandbox containers of dead runs",
        description="Removes avo's containers whose process is gone (same host, PID and start time). "
                    "Containers of live runs are kept unless --force is given. Through the broker, "
                    "only your own containers are removed.")
    collect.add_argument("--run", help="only this run's containers")
    collect.add_argument("--tenant", help="only this tenant's containers (sandbox.tenant)")
    collect.add_argument("--force", action="store_true",
                         help="also remove containers of runs that still live (or run on another host)")
    collect.add_argument("--backend", choices=["docker", "broker"], default="docker",
                         help="broker: ask the host's avo-sandboxd, which removes your own containers only")
    collect.add_argument("--broker-socket", help="the broker's socket (default /run/avo/sandboxd.sock)")
    collect.set_defaults(func=_guarded(_gc, EXIT_USER_ERROR))

    image = subparsers.add_parser("image", help="show or build the sandbox images (with CONFIG: the image "
                                  "with that problem's sandbox.packages)")
    image.add_argument("action", nargs="?", choices=["status", "build"], default="status")
    image.add_argument("config", nargs="?", type=Path, help="a run's config with sandbox.packages or requirements")
    image.add_argument("--gpu", action="store_true", help="build avo-sandbox:gpu (CUDA, torch, Triton) instead of :cpu")
    image.set_defaults(func=_guarded(_image, EXIT_USER_ERROR), policy_loader=policy_loader)


def _guarded(handler: Callable[[argparse.Namespace], int], status: int = EXIT_SANDBOX_ERROR
             ) -> Callable[[argparse.Namespace], int]:
    """Turn the faults a user can cause into one line on stderr and ``status``."""
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except SandboxError as exc:
            print(f"avo: {exc}", file=sys.stderr)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            print(f"avo: invalid sandbox option: {problems}", file=sys.stderr)
        return status
    return run


def _exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("avo: sandbox exec needs a command after --", file=sys.stderr)
        return EXIT_SANDBOX_ERROR
    options = {"timeout_s": args.timeout, "memory": args.memory, "network": args.network,
               "gpus": args.gpus, "image": args.image, "backend": args.backend,
               "broker_socket": args.broker_socket, "broker_wait": False if args.no_wait else None,
               "allow_all_gpus": args.allow_all_gpus or None}
    policy = SandboxPolicy(**{key: value for key, value in options.items() if value is not None})
    with _unwind_on_termination():
        result = exec_once(command, policy, args.workspace, purpose="cli")
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    if result.timed_out:
        print(f"avo: killed at the {policy.timeout_s:g} s timeout", file=sys.stderr)
    elif result.oom_killed:
        print(f"avo: killed: out of memory (limit {policy.memory})", file=sys.stderr)
    return result.exit_code


@contextmanager
def _unwind_on_termination() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into ``SystemExit(128 + signal)`` raised in the main thread, so the
    call's ``finally`` removes its container: Python's default SIGTERM action ends the process on
    the spot and leaves the container behind. Further signals are ignored during that clean-up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGTERM, signal.SIGINT)

    def on_signal(signum: int, frame: Any) -> None:
        for each in handled:
            signal.signal(each, signal.SIG_IGN)
        print(f"avo: {signal.Signals(signum).name}: removing the sandbox container", file=sys.stderr)
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in handled}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _gc(args: argparse.Namespace) -> int:
    if args.backend == "broker":
        options = {"backend": args.backend, "broker_socket": args.broker_socket}
        removed = gc(run_id=args.run, policy=SandboxPolicy(**{k: v for k, v in options.items() if v is not None}))
        print(f"removed {removed} sandbox container(s)")
        return 0
    from .backends.docker import remove_labelled

    swept = remove_labelled(run_id=args.run, tenant=args.tenant, stale_only=not args.force)
    kept = f"; kept {swept.kept_alive} of live runs (--force removes them too)" if swept.kept_alive else ""
    print(f"removed {swept.removed} sandbox container(s){kept}")
    return 0


def _image(args: argparse.Namespace) -> int:
    if args.config is not None:
        return _problem_image(args)
    if args.action == "build":
        if not (SOURCE_ROOT / "images").is_dir():
            raise SandboxError("images are built from a source checkout of avo (its images/ recipes and wheels): "
                               "clone it and run `avo image build` there")
        built = subprocess.call(["make", "image-gpu" if args.gpu else "image"], cwd=SOURCE_ROOT)
        if built != 0:
            raise SandboxError(f"the image build failed (make exited {built}; its output is above)")
        return 0
    from .backends.docker import build_hint, connect, image_present

    client = connect()
    try:
        for name in IMAGES:
            state = "present" if image_present(client, name) else "missing"
            hint = "" if state == "present" else f" ({build_hint(name)})"
            print(f"{name}: {state}{hint}")
    finally:
        client.close()
    return 0


def _problem_image(args: argparse.Namespace) -> int:
    """``avo image build|status CONFIG``: the image derived for the config's sandbox.packages."""
    from .problem_image import ProblemImage

    if args.policy_loader is None:
        print("avo: reading a config needs avo's own command line (`avo image build CONFIG`)", file=sys.stderr)
        return EXIT_SANDBOX_ERROR
    policy = args.policy_loader(args.config)
    if not (policy.packages or policy.requirements):
        print(f"{args.config} lists no sandbox.packages or sandbox.requirements: its calls use {policy.image}")
        return 0
    image = ProblemImage(policy)
    resolved = image.resolve(build=args.action == "build", progress=print)
    print(f"{resolved.image}: present ({', '.join(image.lines)} on {policy.image})")
    return 0
