"""Hostile clients of the broker, run as a tenant (``tenant_hosts.run_tenant`` with this script).

One JSON request on argv; JSON lines on stdout. Each mode speaks the wire protocol
directly, as a tenant's own program could:
``stall`` (fill its socket with unread replies, then open a session that must wait for a
GPU and never read its notice), ``frames`` (send frames and keep the connections idle),
``connections`` (hold many connections), ``frames_raw`` (raw frame bodies: malformed,
deeply nested, repeated).
"""

import fcntl
import json
import os
import socket
import struct
import sys
import termios
import time


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def message(value: dict) -> bytes:
    return frame(json.dumps(value, separators=(",", ":")).encode())


def queued(conn: socket.socket) -> int:
    """Bytes the broker sent that this client has not read (SIOCINQ)."""
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def connect(path: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    return conn


def wait_for(path: str | None, timeout: float = 120) -> None:
    """Until the test creates ``path``; a number instead of a path: that many seconds."""
    if isinstance(path, (int, float)):
        time.sleep(path)
        return
    deadline = time.time() + timeout
    while path and not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)


def open_request(request: dict) -> dict:
    from sandbox import SandboxPolicy
    from sandbox.backends.broker import _requested_policy

    policy = SandboxPolicy(backend="broker", broker_socket=request["socket"], **request["policy"])
    return {"kind": "open", "policy": _requested_policy(policy), "workspace": request["workspace"],
            "run_id": request.get("run_id", "stall"), "purpose": "shell"}


def stall_mode(request: dict) -> None:
    """How many small replies fill this socket (the last one sent whole goes past the
    buffer), then a connection with exactly that many requests and an open that waits."""
    close = message({"kind": "close"})  # no session: answered {"ok": true}, nothing else done
    probe = connect(request["socket"])
    fits = 0
    while True:
        before = queued(probe)
        probe.sendall(close)
        deadline = time.time() + 3.0  # longer than any pause of a loaded host, shorter than the send deadline
        while queued(probe) == before and time.time() < deadline:
            time.sleep(0.002)
        if queued(probe) == before:
            break
        while queued(probe) < before + 15 and time.time() < deadline:  # the whole reply
            time.sleep(0.002)
        fits += 1
    emit("calibrated", fits=fits, queued=queued(probe))
    stalled = connect(request["socket"])
    stalled.sendall(close * fits + message(open_request(request)))
    emit("stalled")
    wait_for(request.get("hold_until"))
    emit("released")


def frames_mode(request: dict) -> None:
    """``count`` connections each send ``size`` bytes of a frame (a status with padding, all
    or ``part`` of it) and stay idle without reading."""
    body = json.dumps({"kind": "status", "pad": "x" * request["size"]}).encode()
    kept, cut = [], 0
    data = frame(body)
    for _ in range(request["count"]):
        conn = connect(request["socket"])
        try:
            conn.sendall(data[: int(len(data) * request.get("part", 1.0))])
        except OSError:
            cut += 1  # the broker refused the frame and hung up
        kept.append(conn)
    emit("sent", count=len(kept) - cut, cut=cut)
    wait_for(request.get("hold_until"))
    emit("released")


def connections_mode(request: dict) -> None:
    kept, failed = [], 0
    for _ in range(request["count"]):
        try:
            kept.append(connect(request["socket"]))
        except OSError:
            failed += 1
    emit("connected", count=len(kept), failed=failed)
    wait_for(request.get("hold_until"))
    for conn in kept:
        conn.close()
    emit("released")


def read_reply(conn: socket.socket) -> dict | None:
    from sandbox.broker.protocol import receive

    try:
        return receive(conn)
    except OSError:
        return None


def frames_raw_mode(request: dict) -> None:
    """Each body (text, or {"deep": N}: an array nested N deep) on a connection of its own,
    ``repeat`` times on one; the replies."""
    replies = []
    for body in request["bodies"]:
        if isinstance(body, dict):
            body = "[" * body["deep"] + "]" * body["deep"]
        with connect(request["socket"]) as conn:
            got = []
            for _ in range(request.get("repeat", 1)):
                conn.sendall(frame(body.encode()))
                got.append(read_reply(conn))
                if got[-1] is None:
                    break
            replies.append(got)
    emit("replies", replies=replies)


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    {"stall": stall_mode, "frames": frames_mode, "connections": connections_mode,
     "frames_raw": frames_raw_mode}[request["mode"]](request)
