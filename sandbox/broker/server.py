"""The broker's socket server: one thread per client connection, at most one session each.

The socket is ``root:<socket_group>`` mode 0660 in a folder only root writes, so only
the tenant group connects, and every caller is identified by ``SO_PEERCRED``. While a
request runs (a call, or a wait for a GPU or a container slot) the connection's
thread watches the socket: a client that hangs up (killed, crashed, Ctrl-C) has its
session's containers removed at once, its waits abandoned and its leases ended.
"""

from __future__ import annotations

import grp
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..backends.base import LABEL_PURPOSE, LABEL_RUN, LABEL_TENANT
from ..backends.docker import connect, engine_errors, image_present, remove_labelled
from ..errors import PolicyError, SandboxError
from .gpu_leases import ClientGone, host_inventory
from .host_policy import HostPolicy
from .peer import Peer, peer_of
from .protocol import Collect, Envelope, OpenSession, RunCall, Status, error_reply, receive, send
from .session import LABEL_BROKER, BrokerState, TenantSession

log = logging.getLogger("avo.sandboxd")

#: How long a stopping broker waits for its connections to end their sessions.
SHUTDOWN_GRACE_S = 20.0
#: Connections one user may hold at once (each costs the broker a thread), sessions or not.
MAX_CONNECTIONS_PER_USER = 64


class Connection:
    """One client: its peer credentials, its session if open, and whether it hung up."""

    def __init__(self, sock: socket.socket, peer: Peer) -> None:
        self.sock = sock
        self.peer = peer
        self.session: TenantSession | None = None
        self._gone = threading.Event()
        self._send_lock = threading.Lock()

    def gone(self) -> bool:
        return self._gone.is_set()

    def hang_up(self) -> None:
        """End the conversation from the broker's side (shutdown): its thread sees the client gone."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            send(self.sock, message)

    def notify(self, text: str) -> None:
        try:
            self.send({"notice": text})
        except OSError:
            self._gone.set()

    def watching(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in a helper thread while watching the socket for a hang-up."""
        outcome: dict[str, Any] = {}
        done_r, done_w = os.pipe()

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - handed back to the connection's thread
                outcome["error"] = exc
            finally:
                os.write(done_w, b"x")

        worker = threading.Thread(target=target, name="avo-sandboxd-call", daemon=True)
        worker.start()
        try:
            poller = select.poll()
            poller.register(self.sock.fileno(), select.POLLIN | select.POLLHUP)
            poller.register(done_r, select.POLLIN)
            while not any(fd == done_r for fd, _ in poller.poll()):
                # The client sends nothing while a request runs: readable means it hung up.
                self._gone.set()
                poller.unregister(self.sock.fileno())
                if self.session is not None:
                    self.session.cut_short()
            worker.join()
        finally:
            os.close(done_r)
            os.close(done_w)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")


class Broker:
    """``avo-sandboxd``: owns the Docker socket, serves tenants on its own."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy
        self.state = BrokerState.build(policy, host_inventory(policy))
        self._listener: socket.socket | None = None
        self._connections: set[Connection] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def sweep(self) -> tuple[int, int]:
        """Remove what an earlier instance of this broker left (containers, mount pins)."""
        containers = remove_labelled(labels={LABEL_BROKER: self.policy.name}, stale_only=False).removed
        return containers, self.state.pins.sweep()

    def listen(self) -> socket.socket:
        path = self.policy.socket
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if path.is_socket():
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        try:
            gid = grp.getgrnam(self.policy.socket_group).gr_gid
        except KeyError:
            listener.close()
            raise PolicyError(f"socket_group {self.policy.socket_group!r} does not exist: "
                              f"`groupadd {self.policy.socket_group}` "
                              "(docs/multi-tenant.md, 'Set-up on a fresh machine (as root)')") from None
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
        listener.listen(128)
        self._listener = listener
        return listener

    def serve_forever(self) -> None:
        listener = self._listener or self.listen()
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # closed by shutdown()
            thread = threading.Thread(target=self._serve, args=(sock,), name="avo-sandboxd-conn", daemon=True)
            with self._lock:
                self._threads = {t for t in self._threads if t.is_alive()} | {thread}
            thread.start()

    def shutdown(self) -> None:
        """Stop accepting, hang up on every client (each connection's thread then ends its
        session: calls cut short, containers removed, leases ended, pins undone), wait for
        them, and sweep whatever a thread could not finish."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            connection.hang_up()
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self.sweep()
        except SandboxError as exc:
            log.warning("could not sweep at shutdown (the next start will): %s", exc)
        self.state.audit.close()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                peer = peer_of(sock)
            except PolicyError as exc:
                send(sock, error_reply(exc))
                return
            connection = Connection(sock, peer)
            with self._lock:
                crowded = sum(c.peer.uid == peer.uid for c in self._connections) >= MAX_CONNECTIONS_PER_USER
                if not crowded:
                    self._connections.add(connection)
            if crowded:
                send(sock, error_reply(PolicyError(f"you already hold {MAX_CONNECTIONS_PER_USER} connections to "
                                                   f"the broker: end some runs first")))
                return
            try:
                self._converse(connection)
            except OSError:
                pass  # the client went away while we replied
            finally:
                self._end_session(connection)
                with self._lock:
                    self._connections.discard(connection)

    def _converse(self, connection: Connection) -> None:
        while (message := receive(connection.sock)) is not None:
            try:
                request = Envelope.model_validate({"request": message}).request
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(map(str, error["loc"][2:])) or "request"
                connection.send({"ok": False, "error": "PolicyError",
                                 "message": f"not a broker request ({where}: {error['msg']}); the broker "
                                            f"speaks open, run, close, status and gc only"})
                continue
            try:
                reply = self._handle(connection, request)
            except ClientGone:
                return
            except SandboxError as exc:
                reply = error_reply(exc)
                peer = connection.peer
                self.state.audit.record("refused", tenant=peer.user, uid=peer.uid, pid=peer.pid,
                                        request=request.kind, reason=str(exc)[:500])
            if connection.gone():
                return
            connection.send(reply)

    def _handle(self, connection: Connection, request: Any) -> dict[str, Any]:
        if isinstance(request, OpenSession):
            if connection.session is not None:
                raise PolicyError("this connection already has a run session: open another connection")
            self._check_sessions(connection.peer)
            connection.session = connection.watching(
                lambda: TenantSession(self.state, connection.peer, request, connection.notify, connection.gone))
            session = connection.session
            return {"ok": True, "session": session.id, "tenant": session.peer.user,
                    "gpus": [gpu.uuid for gpu in session.gpus], "pool_size": session.policy.pool_size}
        if isinstance(request, RunCall):
            session = connection.session
            if session is None:
                raise PolicyError("no run session on this connection: open one first")
            result = connection.watching(lambda: session.run(request, connection.notify, connection.gone))
            return {"ok": True, "result": result.model_dump()}
        if isinstance(request, Status):
            return {"ok": True, "status": self.status(connection.peer)}
        if isinstance(request, Collect):
            removed = remove_labelled(run_id=request.run_id, tenant=connection.peer.user,
                                      labels={LABEL_BROKER: self.policy.name}, stale_only=False).removed
            return {"ok": True, "removed": removed}
        self._end_session(connection)
        return {"ok": True}

    def _check_sessions(self, peer: Peer) -> None:
        rule = self.policy.rule_for(peer.user, list(peer.groups))
        with self._lock:
            open_now = sum(c.session is not None and c.peer.uid == peer.uid for c in self._connections)
        if rule is not None and open_now >= rule.max_sessions:
            raise PolicyError(f"you already have {open_now} run sessions open, your limit is {rule.max_sessions}: "
                              f"end one first")

    def _end_session(self, connection: Connection) -> None:
        session, connection.session = connection.session, None
        if session is None:
            return
        try:
            session.close()
        except SandboxError as exc:
            log.warning("session %s of %s did not close cleanly: %s", session.id, session.peer.user, exc)

    def status(self, peer: Peer) -> dict[str, Any]:
        """What the caller may see: root sees every tenant; a tenant its own containers, and
        who holds which GPU (so a wait can be understood)."""
        admin = peer.uid == 0
        rule = self.policy.rule_for(peer.user, list(peer.groups))
        labels = {LABEL_BROKER: self.policy.name}
        client = connect()
        try:
            with engine_errors():
                found = client.api.containers(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]
                                                                 + ([] if admin else [f"{LABEL_TENANT}={peer.user}"])})
            images = {image: image_present(client, image) for image in (rule.images if rule else [])}
        finally:
            client.close()
        containers = [{"id": c["Id"][:12], "tenant": c["Labels"].get(LABEL_TENANT), "run": c["Labels"].get(LABEL_RUN),
                       "purpose": c["Labels"].get(LABEL_PURPOSE), "state": c.get("State")} for c in found]
        with self._lock:
            sessions = [c.session for c in self._connections if c.session is not None]
        slots = self.state.slots.snapshot()
        tenants = sorted({s.peer.user for s in sessions} | set(slots))
        return {
            "broker": self.policy.name, "pid": os.getpid(),
            "you": {"user": peer.user, "uid": peer.uid, "entry": rule.subject if rule else None,
                    "images": images, "roots": rule.roots_for(peer.user) if rule else [],
                    "networks": rule.networks if rule else [], "runtimes": rule.runtimes if rule else []},
            "tenants": [{"tenant": t, "sessions": sum(s.peer.user == t for s in sessions),
                         **slots.get(t, {"containers": 0, "queued": 0})}
                        for t in tenants if admin or t == peer.user],
            "containers": containers,
            "gpus": self.state.leases.snapshot(),
        }
