"""What a tenant does in the multi-tenant tests, run as that tenant (``tenant_hosts.run_tenant``).

One JSON request on argv; one JSON line per event on stdout. Modes:
``sandbox`` (open a broker session, run calls, hold it, close), ``raw`` (send raw
protocol messages: what a hostile client could send) and ``docker`` (try the
Docker socket directly).
"""

import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def sandbox_mode(request: dict) -> None:
    from sandbox import Sandbox, SandboxError, SandboxPolicy

    policy = SandboxPolicy(**{"backend": "broker", "broker_socket": request["socket"], **request.get("policy", {})})
    start = request.get("start_after")  # a barrier: open only once the test creates this file
    while start and not os.path.exists(start):
        time.sleep(0.002)
    try:
        sandbox = Sandbox(policy, Path(request["workspace"]), run_id=request.get("run_id", "tenant-run"))
    except SandboxError as exc:
        emit("error", type=type(exc).__name__, message=str(exc))
        return
    emit("open", gpus=getattr(sandbox._backend, "gpus", None))  # the broker's lease (none with slurm)
    try:
        for command in request.get("calls", []):
            if isinstance(command, dict) and "stdin_random" in command:  # binary stdin of that many bytes
                data = os.urandom(command["stdin_random"])
                try:
                    result = sandbox.exec(command["command"], stdin=data)
                except SandboxError as exc:
                    emit("error", type=type(exc).__name__, message=str(exc))
                    return
                emit("result", sent_sha256=hashlib.sha256(data).hexdigest(), **result.model_dump())
                continue
            if isinstance(command, dict):  # an action of the tenant on the host, between calls
                operation, *paths = command["host"]
                {"rename": os.rename, "symlink": os.symlink}[operation](*paths)
                continue
            try:
                result = sandbox.exec(command)
            except SandboxError as exc:
                emit("error", type=type(exc).__name__, message=str(exc))
                return
            emit("result", **result.model_dump())
        time.sleep(request.get("hold_s", 0))
        release = request.get("hold_until")  # hold the session until the test creates this file
        deadline = time.time() + 120
        while release and not os.path.exists(release) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        sandbox.close()
        emit("closed")


def raw_mode(request: dict) -> None:
    from sandbox.broker.protocol import receive, send

    replies = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(request["socket"])
        for message in request["messages"]:
            if isinstance(message, str):
                conn.sendall(message.encode())
                conn.shutdown(socket.SHUT_WR)
            else:
                send(conn, message)
            try:
                while (reply := receive(conn)) is not None and "notice" in reply:
                    pass
            except ConnectionResetError:
                reply = None
            replies.append(reply)
            if reply is None:
                break
    emit("replies", replies=replies)


def docker_mode(request: dict) -> None:
    outcome = {}
    for path in ("/var/run/docker.sock", "/run/containerd/containerd.sock"):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(path)
                conn.sendall(b"GET /containers/json HTTP/1.0\r\n\r\n")
                outcome[path] = conn.recv(100).decode(errors="replace")
        except OSError as exc:
            outcome[path] = type(exc).__name__
    emit("docker", outcome=outcome)


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    {"sandbox": sandbox_mode, "raw": raw_mode, "docker": docker_mode}[request.get("mode", "sandbox")](request)
