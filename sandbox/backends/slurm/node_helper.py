"""avo's helper on a compute node: each job step runs it once, for one request.

``python -m sandbox.backends.slurm.node_helper ACTION``, the request (JSON) on stdin
and the :class:`~.wire.Reply` as the last line of stdout:

- ``call``: run one command through the node backend (the docker backend's own code:
  same container, same hardening, same output cap, deadline and exit codes; or, with
  ``node_backend: broker``, a session with the node's avo-sandboxd as the calling user),
  with exactly the GPUs Slurm gave the step;
- ``plan``: the container options a call would get, without running it (what the
  tests assert on a machine whose dockerd cannot honour a GPU request);
- ``probe``: the start-of-run checks (nonce files from the login side, the image: in
  the node's engine, or among the images the node's broker allows the caller);
- ``sweep``: remove the containers carrying given labels (docker only: the broker ends a
  session's containers itself when the step's connection closes);
- ``hold --heartbeat F --stale-after S --poll P [--node-backend B]``: the holder job's body (:mod:`.holder`);
- ``serve``: the persistent helper of :mod:`.helper_step`: one request per stdin line
  (``{"id", "action", "request"}``), each served in a thread of its own, its reply one
  stdout line (``{"id", "reply"}``) in any order; on EOF or SIGTERM it removes the
  containers of the calls still in flight and exits. One step then serves many calls,
  with the interpreter, the imports and the engine already warm.

A SIGTERM (``scancel`` of the step, the end of the allocation) unwinds the call, so
the docker backend removes its container before the helper exits.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from ...errors import GpuUnavailable, PolicyError, SandboxError
from ...policy import GpuSelection, SandboxPolicy
from .step_gpus import step_gpu_ids
from .wire import LABEL_CALL, LABEL_JOB, CallRequest, ProbeRequest, Reply, SweepRequest

def node_policy(policy: SandboxPolicy, gpus: list[str]) -> SandboxPolicy:
    """The call's policy on this node: the node backend (the node's dockerd, or its avo-sandboxd,
    which leases these very GPUs only if its host policy gives them to the caller), with exactly
    the step's GPUs."""
    selection = GpuSelection(mode="devices", device_ids=gpus) if gpus else GpuSelection()
    return policy.model_copy(update={"backend": policy.slurm.node_backend, "gpus": selection})


def _node() -> str:
    return socket.gethostname()


def _call_parts(raw: bytes, env: Mapping[str, str]) -> tuple[CallRequest, SandboxPolicy, dict[str, str], list[str],
                                                              str | None]:
    request = CallRequest.model_validate_json(raw)
    gpus, source = step_gpu_ids(env)
    labels = {**request.labels, LABEL_JOB: env.get("SLURM_JOB_ID", "")}
    return request, node_policy(request.policy, gpus), labels, gpus, source


#: Backends kept open by a persistent helper (``serve``) across its calls, by policy, workspace and
#: labels (all but the call's own): those with a warm pool, and every broker session (one broker
#: connection per helper, not an admission and mount pinning per call). A one-call step keeps none.
_POOLED: dict[str, Any] = {}
_POOLED_LOCK = threading.Lock()


def serve_call(raw: bytes, env: Mapping[str, str], keep_pools: bool = False) -> Reply:
    """Run one call. ``keep_pools`` (a persistent helper): a policy with ``pool_size`` > 0, or the
    broker, reuses one backend (its warm containers, its broker session) for every call of the
    same sandbox."""
    from .. import open_backend

    request, policy, labels, gpus, source = _call_parts(raw, env)
    stdin = base64.b64decode(request.stdin_b64) or None
    if keep_pools and (policy.pool_size > 0 or policy.backend == "broker"):
        shared = {k: v for k, v in labels.items() if k != LABEL_CALL}
        key = "\0".join([policy.model_dump_json(), request.workspace, json.dumps(shared, sort_keys=True)])
        with _POOLED_LOCK:
            if key not in _POOLED:
                _POOLED[key] = open_backend(policy, Path(request.workspace), shared)
            backend = _POOLED[key]
        result = backend.run(request.script, stdin=stdin, timeout_s=request.timeout_s)
        return Reply(node=_node(), gpus=gpus, gpu_source=source, result=result)
    backend = open_backend(policy, Path(request.workspace), labels)
    try:
        result = backend.run(request.script, stdin=stdin, timeout_s=request.timeout_s)
    finally:
        backend.close()
    return Reply(node=_node(), gpus=gpus, gpu_source=source, result=result)


def close_pools() -> None:
    """Close the backends a persistent helper kept (their warm containers go with them)."""
    with _POOLED_LOCK:
        backends = list(_POOLED.values())
        _POOLED.clear()
    for backend in backends:
        try:
            backend.close()
        except SandboxError:
            pass


def serve_plan(raw: bytes, env: Mapping[str, str]) -> Reply:
    from ..docker.options import container_options

    request, policy, labels, gpus, source = _call_parts(raw, env)
    if policy.backend != "docker":
        raise PolicyError("plan shows the docker backend's container options; the broker builds its own")
    options = container_options(policy, Path(request.workspace), labels)
    host_config = options["host_config"]
    plan = {"device_requests": host_config.get("DeviceRequests") or [],
            "environment": {k: v for k, v in options["environment"].items() if k.startswith("NVIDIA_")},
            "labels": options["labels"], "user": options["user"]}
    return Reply(node=_node(), gpus=gpus, gpu_source=source, plan=plan)


def serve_probe(raw: bytes, env: Mapping[str, str]) -> Reply:
    from ..docker.engine import connect, image_present

    request = ProbeRequest.model_validate_json(raw)
    missing = [path for path, nonce in request.nonces.items() if _read(Path(path)) != nonce]
    gpus, source = step_gpu_ids(env)
    if request.broker_socket is not None:
        present = _broker_has_image(request.broker_socket, request.image)
    else:
        client = connect()
        try:
            present = image_present(client, request.image)
        finally:
            client.close()
    return Reply(node=_node(), gpus=gpus, gpu_source=source, missing=missing, image_present=present,
                 env_names=sorted(env))


def _broker_has_image(socket_path: str, image: str) -> bool:
    """Whether the node's broker has ``image``; refused when its host policy does not allow it to the caller."""
    from ..broker import broker_request

    allowed = broker_request(socket_path, {"kind": "status"})["status"]["you"]["images"]
    if image not in allowed:
        raise PolicyError(f"the broker on node {_node()} does not allow image {image} to you (allowed: "
                          f"{', '.join(allowed) or 'none'}): use one of those, or ask the admin")
    return bool(allowed[image])


def serve_sweep(raw: bytes, env: Mapping[str, str]) -> Reply:
    from ..docker.sweep import remove_labelled

    request = SweepRequest.model_validate_json(raw)
    return Reply(node=_node(), removed=remove_labelled(labels=request.labels, stale_only=False).removed)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


HANDLERS: dict[str, Callable[[bytes, Mapping[str, str]], Reply]] = {
    "call": serve_call, "plan": serve_plan, "probe": serve_probe, "sweep": serve_sweep}


def _slurm_fix(exc: SandboxError) -> str:
    """The error as a slurm-backed run must read it: its GPUs come from ``sandbox.slurm.gres``
    (``sandbox.gpus`` is already none), so doing without them means removing that."""
    from ...gpu import INSTALL_FIX

    message = str(exc)
    if isinstance(exc, GpuUnavailable):
        message = message.replace(INSTALL_FIX, INSTALL_FIX.replace(
            "or set sandbox.gpus: none", "or remove sandbox.slurm.gres to run without GPUs"))
    return message


def _terminate(signum: int, frame: FrameType | None) -> Any:
    raise SystemExit(128 + signum)


def answer(action: str, raw: bytes, env: Mapping[str, str], *, persistent: bool = False) -> Reply:
    """One request's reply; the errors a request can cause come back as the reply's error."""
    try:
        if action == "call":
            return serve_call(raw, env, keep_pools=persistent)
        return HANDLERS[action](raw, env)
    except SandboxError as exc:
        return Reply(node=_node(), error_type=type(exc).__name__, error=_slurm_fix(exc))
    except (ValidationError, KeyError) as exc:
        return Reply(node=_node(), error_type=PolicyError.__name__, error=f"bad request to the node helper: {exc}")


def serve(env: Mapping[str, str]) -> int:
    """The persistent helper's loop (see the module docstring)."""

    import importlib

    for module in ("sandbox.backends.docker", "sandbox.backends.broker"):
        importlib.import_module(module)  # docker-py and both node backends: imported once, not at each call
    from ..docker.sweep import remove_labelled

    out_lock = threading.Lock()
    stopping = threading.Event()
    in_flight: dict[str, str] = {}  # request id -> its call's label

    policies: dict[str, Any] = {}  # digest -> policy, defined once per helper by the login side

    def run_one(message: dict[str, Any]) -> None:
        body = message.get("request", {})
        if isinstance(body, dict) and "policy_ref" in body:
            body = {**{k: v for k, v in body.items() if k != "policy_ref"},
                    "policy": policies.get(str(body["policy_ref"]))}  # unknown: the request is refused
        request = json.dumps(body).encode()
        call = message.get("request", {}).get("labels", {}).get(LABEL_CALL) if message.get("action") == "call" else None
        if call:
            in_flight[message["id"]] = call
        try:
            reply = answer(str(message.get("action")), request, env, persistent=True)
        finally:
            in_flight.pop(message["id"], None)
        line = json.dumps({"id": message["id"], "reply": json.loads(reply.model_dump_json(exclude_defaults=True))}) + "\n"
        with out_lock:
            if stopping.is_set():
                return  # ended: a call whose container the sweep removed has no result to report
            sys.stdout.write(line)
            sys.stdout.flush()

    def sweep_in_flight(signum: int | None = None, frame: FrameType | None = None) -> None:
        stopping.set()
        close_pools()
        for call in list(in_flight.values()):
            try:
                remove_labelled(labels={LABEL_CALL: call}, stale_only=False)
            except SandboxError:
                pass
        os._exit(0 if signum is None else 128 + signum)  # the call threads die with the process

    signal.signal(signal.SIGTERM, sweep_in_flight)
    print(json.dumps({"id": "", "ready": True}), flush=True)
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("define"), dict):
            definition = message["define"]  # in the reading loop: defined before any later line is served
            policies[str(definition.get("ref"))] = definition.get("policy")
        elif isinstance(message, dict) and isinstance(message.get("id"), str):
            threading.Thread(target=run_one, args=(message,), daemon=True).start()
    sweep_in_flight()  # EOF: the login side is gone
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avo-node-helper", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=[*HANDLERS, "hold", "serve"])
    parser.add_argument("--heartbeat", type=Path)
    parser.add_argument("--stale-after", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--node-backend", choices=["docker", "broker"], default="docker")
    args = parser.parse_args(argv)
    if args.action == "hold":
        from .holder import hold

        ended = hold(args.heartbeat, args.stale_after, args.poll, sweep=args.node_backend == "docker")
        print(f"holder on {_node()} ended: {ended}", flush=True)
        return 0
    if args.action == "serve":
        return serve(os.environ)
    signal.signal(signal.SIGTERM, _terminate)
    reply = answer(args.action, sys.stdin.buffer.read(), os.environ)
    sys.stdout.write(reply.model_dump_json() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
