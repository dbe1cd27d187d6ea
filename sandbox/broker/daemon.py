"""Start-up and shut-down of ``avo-sandboxd``.

At start it sweeps what an earlier instance of the same name left (a killed broker
cannot clean up: its containers and mount pins are removed here, before any tenant
is served, so no old container keeps a GPU that a new lease hands out). SIGTERM and
SIGINT end every session cleanly.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from ..errors import PolicyError
from .host_policy import load_host_policy
from .server import Broker

log = logging.getLogger("avo.sandboxd")
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


def check(config: Path) -> int:
    """Validate the host policy; print what it says about tenants."""
    policy = load_host_policy(config)
    print(f"{config}: valid; {len(policy.tenants)} tenant entr{'y' if len(policy.tenants) == 1 else 'ies'}, "
          f"{len(policy.gpus)} GPU(s) declared; socket {policy.socket} (group {policy.socket_group})")
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _return_large_frees() -> None:
    """Allocate every block over 1 MiB with its own mapping, so a request's frame goes back to
    the system once handled (glibc's adaptive threshold would keep it in a thread's arena,
    and idle connections would hold that memory: the frame bounds count bytes in use)."""
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 2**20)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator decides


def serve(config: Path) -> int:
    """Run the broker until SIGTERM/SIGINT."""
    _return_large_frees()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="avo-sandboxd: %(message)s")
    if os.geteuid() != 0:
        raise PolicyError("avo-sandboxd runs as root (it alone talks to dockerd and pins mounts): "
                          "start it with systemd (docs/multi-tenant.md, 'Set-up on a fresh machine (as root)')")
    policy = load_host_policy(config)
    broker = Broker(policy)
    containers, pins = broker.sweep()
    broker.listen()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("serving %s on %s (swept %d container(s), %d session pin folder(s) of an earlier instance)",
             policy.name, policy.socket, containers, pins)
    try:
        broker.serve_forever()
    except Exception as exc:  # noqa: BLE001 - anything but a stop signal is fatal: say so, exit non-zero
        log.error("fatal: %s: %s (exiting; systemd restarts the broker)", type(exc).__name__, exc)
        return 1
    finally:
        broker.shutdown()
        log.info("stopped")
    return 0
