"""``avo sandboxd status`` (for tenants and admins) and ``avo-sandboxd`` itself.

``register`` adds ``sandboxd`` to ``avo``'s subcommands; :func:`main` is the
``avo-sandboxd`` entry point (``serve``, ``status``, ``check``), which needs none
of the agent's dependencies.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SandboxError
from .host_policy import DEFAULT_PATH

DEFAULT_SOCKET = "/run/avo/sandboxd.sock"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sandboxd status`` to ``avo``'s subcommands."""
    sandboxd = subparsers.add_parser("sandboxd", help="the multi-tenant sandbox broker (status)")
    commands = sandboxd.add_subparsers(dest="sandboxd_command", required=True)
    _add_status(commands)


def _add_status(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="tenants, live containers, GPU leases and queues")
    status.add_argument("--socket", default=DEFAULT_SOCKET, help=f"the broker's socket (default {DEFAULT_SOCKET})")
    status.set_defaults(func=_guarded(_status))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A fault a user or admin can cause becomes one line on stderr and status 2."""
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except SandboxError as exc:
            print(f"avo-sandboxd: {exc}", file=sys.stderr)
            return 2
    return run


def render_status(status: dict[str, Any]) -> str:
    """The broker's status as a few plain lines (the broker has no terminal library)."""
    you = status["you"]
    lines = [f"broker {status['broker']} (pid {status['pid']}); you: {you['user']} "
             f"({you['entry'] or 'no entry: denied'})", "tenants:"]
    lines += [f"  {t['tenant']}: {t['sessions']} session(s), {t['containers']} container slot(s) in use, "
              f"{t['queued']} queued" for t in status["tenants"]] or ["  (none)"]
    lines.append("containers:")
    lines += [f"  {c['id']}  {c['tenant']}  run={c['run']}  {c['purpose']}  {c['state']}"
              for c in status["containers"]] or ["  (none)"]
    lines.append("gpus:")
    lines += [f"  {g['index']}  {g['uuid']}  " + (f"leased to {g['holder']}" if g["holder"] else "free")
              for g in status["gpus"]] or ["  (none in the inventory)"]
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    from ..backends.broker import broker_request

    print(render_status(broker_request(args.socket, {"kind": "status"})["status"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``avo-sandboxd [serve|status|check]``."""
    parser = argparse.ArgumentParser(prog="avo-sandboxd", description="The multi-tenant sandbox broker: "
                                     "the only process that talks to dockerd; tenants call it on its socket.")
    commands = parser.add_subparsers(dest="command")
    for name, text in (("serve", "run the broker (as root)"), ("check", "validate the host policy and exit")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", type=Path, default=DEFAULT_PATH, help=f"host policy (default {DEFAULT_PATH})")
    _add_status(commands)
    args = parser.parse_args(argv)
    if args.command == "status":
        return int(args.func(args))
    from .daemon import check, serve

    config = getattr(args, "config", DEFAULT_PATH)
    return _guarded(lambda _: check(config) if args.command == "check" else serve(config))(args)
