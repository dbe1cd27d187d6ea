"""The broker's socket server: one thread per client connection, at most one session each.

The socket is ``root:<socket_group>`` mode 0660 in a folder only root writes, so only
the tenant group connects, and every caller is identified by ``SO_PEERCRED``. Shared
state (tenants' sessions, GPU leases, container slots) has one owner, the
:class:`.ledger.Ledger`; a connection's thread reserves there before anything slow and
never holds its lock while it talks to a socket. Everything written to a client goes
out from that client's own thread with a deadline (:func:`.frames.send_within`): notices
for a waiting request are queued on the connection and written by its thread, so a
client that stops reading is dropped (its session ended) and nobody else waits on it.
While a request runs (a call, or a wait for a GPU or a container slot) the thread
watches the socket: a client that hangs up has its session's containers removed at once,
its waits abandoned and its leases ended.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..backends.base import LABEL_PURPOSE, LABEL_RUN, LABEL_TENANT
from ..backends.docker import connect, engine_errors, image_present, remove_labelled
from ..errors import PolicyError, SandboxError
from .audit_log import AuditLog
from .frames import FrameBudget, FrameRefused, SendTimeout, read_request, send_within
from .gpu_leases import ClientGone, host_inventory
from .host_policy import HostPolicy
from .peer import Peer, peer_of
from .protocol import Collect, Envelope, OpenSession, RunCall, Status, error_reply
from .session import LABEL_BROKER, BrokerState, TenantSession

log = logging.getLogger("avo.sandboxd")

#: How long a stopping broker waits for its connections to end their sessions.
SHUTDOWN_GRACE_S = 20.0
#: accept() errors a busy host causes (descriptors, memory): back off and keep serving.
TRANSIENT_ACCEPT = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED, errno.EINTR,
                    errno.EAGAIN, errno.EPERM, errno.EPROTO}
#: Longest pause between accept() retries while descriptors are short.
MAX_BACKOFF_S = 0.5
#: How often the housekeeper flushes merged audit counts and retries failed removals.
HOUSEKEEPING_S = 2.0
_UCRED = struct.Struct("3i")


class Connection:
    """One client: its peer credentials, its session if open, notices queued for it."""

    def __init__(self, sock: socket.socket, peer: Peer, send_deadline_s: float) -> None:
        self.sock = sock
        self.peer = peer
        self.session: TenantSession | None = None
        self.deadline_s = send_deadline_s
        self.dropped = ""
        self._gone = threading.Event()
        self._notices: deque[str] = deque(maxlen=16)  # only the latest matter to a waiting client
        self._wake: int | None = None  # the pipe of the request being watched

    def gone(self) -> bool:
        return self._gone.is_set()

    def hang_up(self) -> None:
        """End the conversation from the broker's side (shutdown): its thread sees the client gone."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, message: dict[str, Any]) -> None:
        """Write ``message`` from this connection's own thread, within the send deadline."""
        send_within(self.sock, message, self.deadline_s)

    def notify(self, text: str) -> None:
        """Queue a notice (from the request's worker; never blocks): the connection's thread writes it."""
        self._notices.append(text)
        wake = self._wake
        if wake is not None:
            try:
                os.write(wake, b"n")
            except BlockingIOError:
                pass  # already woken

    def _write_notices(self) -> None:
        while self._notices:
            self.send({"notice": self._notices.popleft()})

    def _lose(self, reason: str) -> None:
        self.dropped = self.dropped or reason
        self._gone.set()
        if self.session is not None:
            self.session.cut_short()

    def watching(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in a helper thread while watching the socket for a hang-up and
        writing the notices ``work`` queues."""
        outcome: dict[str, Any] = {}
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # b"n": a notice queued; b"d": done
        self._wake = wake_w

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - handed back to the connection's thread
                outcome["error"] = exc
            finally:
                self._wake = None
                os.write(wake_w, b"d")

        worker = threading.Thread(target=target, name="avo-sandboxd-call", daemon=True)
        try:
            worker.start()
            poller = select.poll()
            poller.register(self.sock.fileno(), select.POLLIN | select.POLLHUP)
            poller.register(wake_r, select.POLLIN)
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if wake_r in ready:
                    try:
                        woken = os.read(wake_r, 4096)
                    except BlockingIOError:
                        woken = b""
                    if b"d" in woken:
                        break
                    try:
                        if not self.gone():
                            self._write_notices()
                    except (SendTimeout, OSError) as exc:
                        self._lose(f"notice not taken: {exc}")
                if self.sock.fileno() in ready:
                    # The client sends nothing while a request runs: readable means it hung up.
                    poller.unregister(self.sock.fileno())
                    self._lose("hung up mid-request")
            worker.join()
        finally:
            self._wake = None
            os.close(wake_r)
            os.close(wake_w)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")


class Broker:
    """``avo-sandboxd``: owns the Docker socket, serves tenants on its own."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy
        self.limits = policy.limits
        self.state = BrokerState.build(policy, host_inventory(policy))
        self.frames = FrameBudget(self.limits.max_frame_bytes_total, self.limits.max_frame_bytes_per_user)
        self._listener: socket.socket | None = None
        self._connections: set[Connection] = set()
        self._per_uid: dict[int, int] = {}
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()  # the connection table only; nothing slow under it
        self._stopping = threading.Event()

    @property
    def audit(self) -> AuditLog:
        return self.state.audit

    def sweep(self) -> tuple[int, int]:
        """Remove what an earlier instance of this broker left (containers, mount pins)."""
        containers = remove_labelled(labels={LABEL_BROKER: self.policy.name}, stale_only=False).removed
        return containers, self.state.pins.sweep()

    def listen(self) -> socket.socket:
        path = self.policy.socket
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.parent.chmod(0o755)
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
        listener.listen(512)
        self._listener = listener
        return listener

    def serve_forever(self) -> None:
        """Accept until shutdown. Running out of descriptors (or memory) backs off and keeps
        serving; any other accept() error is fatal and propagates (the daemon exits non-zero,
        and systemd restarts it)."""
        listener = self._listener or self.listen()
        housekeeper = threading.Thread(target=self._housekeep, name="avo-sandboxd-housekeeper", daemon=True)
        housekeeper.start()
        backoff = 0.0
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError as exc:
                if self._stopping.is_set():
                    return
                if exc.errno not in TRANSIENT_ACCEPT:
                    raise
                backoff = min(MAX_BACKOFF_S, max(0.01, backoff * 2))
                log.warning("accept failed (%s): retrying in %.2f s", exc.strerror, backoff)
                self.audit.merged("refused", -1, f"accept:{exc.errno}", request="connect",
                                  reason=f"accept failed: {exc.strerror}")
                time.sleep(backoff)
                continue
            backoff = 0.0
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        """Count the connection against the host's and its user's caps, then give it a thread."""
        try:
            _, uid, _ = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        except OSError:
            sock.close()
            return
        with self._lock:
            total, mine = len(self._threads), self._per_uid.get(uid, 0)
            crowded = ""
            if total >= self.limits.max_connections:
                crowded = f"the broker serves its limit of {self.limits.max_connections} connections now: retry later"
            elif mine >= self.limits.max_connections_per_user:
                crowded = (f"you already hold {mine} connections to the broker, your limit is "
                           f"{self.limits.max_connections_per_user}: end some runs first")
            if not crowded:
                self._per_uid[uid] = mine + 1
                thread = threading.Thread(target=self._serve, args=(sock, uid), name="avo-sandboxd-conn",
                                          daemon=True)
                self._threads.add(thread)
        if crowded:
            self.audit.merged("refused", uid, crowded, request="connect", reason=crowded)
            self._refuse(sock, PolicyError(crowded))
            return
        try:
            thread.start()
        except RuntimeError as exc:  # no thread left for it: refuse this one, keep serving
            self._forget(thread, uid)
            self.audit.merged("refused", uid, "thread", request="connect", reason=f"no thread: {exc}")
            self._refuse(sock, PolicyError("the broker is out of threads now: retry later"))

    @staticmethod
    def _refuse(sock: socket.socket, exc: SandboxError) -> None:
        with sock:
            try:
                send_within(sock, error_reply(exc), 0.2)
            except (SendTimeout, OSError):
                pass

    def _forget(self, thread: threading.Thread, uid: int) -> None:
        with self._lock:
            self._threads.discard(thread)
            self._per_uid[uid] -= 1
            if not self._per_uid[uid]:
                del self._per_uid[uid]

    def _housekeep(self) -> None:
        while not self._stopping.wait(HOUSEKEEPING_S):
            try:
                self.audit.flush()
                self.state.retry_removals()
            except Exception as exc:  # noqa: BLE001 - housekeeping must outlive one bad round
                log.warning("housekeeping: %s", exc)

    def shutdown(self) -> None:
        """Stop accepting, hang up on every client (each connection's thread then ends its
        session: calls cut short, containers removed, leases ended, pins undone), wait for
        them, and sweep whatever a thread could not finish. Calls in flight are audited."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            session = connection.session
            if session is not None and session.calls_in_flight():
                self.audit.record("interrupted", tenant=connection.peer.user, uid=connection.peer.uid,
                                  run=session.run_id, session=session.id, calls=session.calls_in_flight(),
                                  reason="the broker is stopping")
            connection.hang_up()
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.state.retry_removals()
        try:
            self.sweep()
        except SandboxError as exc:
            log.warning("could not sweep at shutdown (the next start will): %s", exc)
        self.audit.record("stopped", uid=os.getuid(), broker=self.policy.name)
        self.audit.close()

    def _serve(self, sock: socket.socket, uid: int) -> None:
        try:
            with sock:
                try:
                    peer = peer_of(sock)
                except (PolicyError, OSError) as exc:
                    self.audit.merged("refused", uid, str(exc), request="connect", reason=str(exc))
                    self._refuse(sock, exc if isinstance(exc, SandboxError) else PolicyError(str(exc)))
                    return
                connection = Connection(sock, peer, self.limits.send_deadline_s)
                with self._lock:
                    self._connections.add(connection)
                try:
                    self._converse(connection)
                except (SendTimeout, OSError) as exc:
                    connection.dropped = connection.dropped or f"reply not taken: {exc}"
                finally:
                    self._end_session(connection, connection.dropped or "connection ended")
                    if connection.dropped:
                        self.audit.merged("dropped", peer.uid, connection.dropped, tenant=peer.user,
                                          reason=connection.dropped)
                    with self._lock:
                        self._connections.discard(connection)
        finally:
            self._forget(threading.current_thread(), uid)

    def _refused(self, peer: Peer, request: str, reason: str) -> None:
        self.audit.merged("refused", peer.uid, f"{request}:{reason}", tenant=peer.user, pid=peer.pid,
                          request=request, reason=reason[:500])

    def _converse(self, connection: Connection) -> None:
        peer = connection.peer
        while True:
            try:
                received = read_request(connection.sock, peer.uid, self.frames, self.limits.max_frame_bytes,
                                        self.limits.frame_deadline_s)
            except FrameRefused as exc:
                self._refused(peer, "frame", str(exc))
                connection.send({"ok": False, "error": "PolicyError", "message": str(exc)})
                return
            if received is None:
                return
            message, reservation = received
            try:
                reply = self._answer(connection, message)
            finally:
                del message, received  # an idle connection holds no request
                reservation.release()
            if reply is None or connection.gone():
                return
            connection.send(reply)

    def _answer(self, connection: Connection, message: dict[str, Any]) -> dict[str, Any] | None:
        """The reply to one message (None: the client is gone, say nothing); refusals audited."""
        peer = connection.peer
        try:
            request = Envelope.model_validate({"request": message}).request
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(map(str, error["loc"][2:])) or "request"
            text = (f"not a broker request ({where}: {error['msg']}); the broker speaks open, run, close, "
                    f"status and gc only")
            self._refused(peer, str(message.get("kind"))[:40], text)
            return {"ok": False, "error": "PolicyError", "message": text}
        try:
            return self._handle(connection, request)
        except ClientGone:
            return None
        except SandboxError as exc:
            self._refused(peer, request.kind, str(exc))
            return error_reply(exc)

    def _handle(self, connection: Connection, request: Any) -> dict[str, Any]:
        peer = connection.peer
        if isinstance(request, OpenSession):
            if connection.session is not None:
                raise PolicyError("this connection already has a run session: open another connection")
            connection.session = connection.watching(
                lambda: TenantSession(self.state, peer, request, connection.notify, connection.gone))
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
            self.audit.merged("status", peer.uid, "status", tenant=peer.user)
            return {"ok": True, "status": self.status(peer)}
        if isinstance(request, Collect):
            removed = remove_labelled(run_id=request.run_id, tenant=peer.user,
                                      labels={LABEL_BROKER: self.policy.name}, stale_only=False).removed
            self.audit.record("gc", tenant=peer.user, uid=peer.uid, pid=peer.pid, run=request.run_id,
                              removed=removed)
            return {"ok": True, "removed": removed}
        self._end_session(connection, "closed by the client")
        return {"ok": True}

    def _end_session(self, connection: Connection, reason: str) -> None:
        session, connection.session = connection.session, None
        if session is None:
            return
        peer = session.peer
        try:
            session.close()
        except SandboxError as exc:
            log.warning("session %s of %s did not close cleanly: %s", session.id, peer.user, exc)
            reason = f"{reason}; not cleanly: {exc}"
        self.audit.record("close", tenant=peer.user, uid=peer.uid, pid=peer.pid, run=session.run_id,
                          session=session.id, reason=reason[:500])

    def status(self, peer: Peer) -> dict[str, Any]:
        """What the caller may see: root sees every tenant and the broker's own load; a tenant
        its own containers, and who holds which GPU (so a wait can be understood)."""
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
        sessions = self.state.ledger.sessions()
        slots = self.state.slots.snapshot()
        tenants = sorted(set(sessions) | set(slots))
        status: dict[str, Any] = {
            "broker": self.policy.name, "pid": os.getpid(),
            "you": {"user": peer.user, "uid": peer.uid, "entry": rule.subject if rule else None,
                    "images": images, "roots": rule.roots_for(peer.user) if rule else [],
                    "networks": rule.networks if rule else [], "runtimes": rule.runtimes if rule else []},
            "tenants": [{"tenant": t, "sessions": sessions.get(t, 0),
                         **slots.get(t, {"containers": 0, "queued": 0})}
                        for t in tenants if admin or t == peer.user],
            "containers": containers,
            "gpus": self.state.leases.snapshot(),
        }
        if admin:
            with self._lock:
                connections = len(self._threads)
            status["load"] = {"connections": connections, "frame_bytes_held": self.frames.held,
                              "leases": {uuid: list(held) for uuid, held in self.state.leases.held_by().items()}}
        return status
