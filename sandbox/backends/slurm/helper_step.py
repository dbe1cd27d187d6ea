"""One long-lived helper step per allocation that serves many calls (``node_helper serve``).

A step per call pays ``srun``, an interpreter, avo's imports and the docker backend's
set-up each time (about 2x a local call), and counts against ``MaxStepCount``. This
step stays up and takes requests over its own stdin and stdout: no listening socket, so
Slurm still decides who reaches the node. Requests carry ids, so the shell's and the
scorer's calls run side by side. Each call keeps its deadline (the node's docker
backend enforces it; this side waits the deadline plus ``step_grace_s``) and a cap on
its reply line. A helper that misses a deadline, sends a line past the cap, or dies is
ended (the watchdog), its calls fail, and the next call starts a fresh one; a helper
that cannot start at all makes the backend fall back to one step per call. The helper
exits when its stdin closes, removing the containers of the calls it still ran.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import threading
from typing import Any

from pydantic import BaseModel

from ...errors import SlurmError
from .queue import INSTALL_FIX
from .steps import end_step, helper_argv, raise_reported, step_environment
from .wire import Reply

#: How long a new helper may take to say it is ready (interpreter start and imports on a busy node).
READY_TIMEOUT_S = 60.0
_STDERR_KEEP = 4096


class _Pending:
    """One request waiting for its reply line."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class HelperStep:
    """The persistent helper of one allocation (``job_id``); thread-safe."""

    def __init__(self, job_id: int, python: str, line_limit: int) -> None:
        self.job_id = job_id
        self._line_limit = line_limit
        self._lock = threading.Lock()  # the pending table and the state; never held across I/O
        self._write_lock = threading.Lock()  # one request line at a time on the helper's stdin
        self._sent_policies: set[str] = set()  # digests of the policies this helper has (under the write lock)
        self._pending: dict[str, _Pending] = {}
        self._stderr = bytearray()
        self._ready = threading.Event()
        self._dead: str | None = None
        try:
            self._process = subprocess.Popen(helper_argv(job_id, "serve", python), stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             env=step_environment(), start_new_session=True)
        except FileNotFoundError:
            raise SlurmError(f"srun not found: {INSTALL_FIX}") from None
        threading.Thread(target=self._read_replies, name=f"avo-helper-{job_id}", daemon=True).start()
        threading.Thread(target=self._read_stderr, name=f"avo-helper-err-{job_id}", daemon=True).start()
        if not self._ready.wait(READY_TIMEOUT_S) or self._dead:
            detail = self._dead or f"not ready within {READY_TIMEOUT_S:g} s"
            self.close()
            raise SlurmError(f"avo's helper step in job {job_id} did not start: {detail}")

    @property
    def alive(self) -> bool:
        return self._dead is None and self._process.poll() is None

    def request(self, action: str, request: BaseModel, timeout_s: float) -> Reply:
        """Send one request and wait up to ``timeout_s`` for its reply (the watchdog ends a helper
        that misses it: a hung helper must not hold later calls)."""
        ident = secrets.token_hex(8)
        pending = _Pending()
        body = json.loads(request.model_dump_json())
        with self._lock:
            if self._dead:
                raise SlurmError(f"avo's helper step in job {self.job_id} is gone: {self._dead}")
            self._pending[ident] = pending
        try:
            assert self._process.stdin is not None
            try:
                with self._write_lock:
                    self._process.stdin.write(self._lines(ident, action, body))
                    self._process.stdin.flush()
            except OSError as exc:
                self._fail(f"its stdin closed ({exc})")
            if not pending.done.wait(timeout_s):
                self._fail(f"no answer to a {action} request within {timeout_s:g} s")
        except BaseException:  # interrupted (an abort): end the helper, which removes its calls' containers
            self._fail(f"a {action} request was interrupted")
            raise
        finally:
            with self._lock:
                self._pending.pop(ident, None)
        if pending.reply is None:
            raise SlurmError(f"the {action} request in job {self.job_id} got no answer and the helper step was "
                             f"ended: {self._dead}")
        return raise_reported(Reply.model_validate(pending.reply))

    def _lines(self, ident: str, action: str, body: dict[str, Any]) -> bytes:
        """The request's line(s), the policy sent once per helper and named by its digest after that:
        srun relays stdio in messages of 1 KiB, and a line of two messages waits ~40 ms for a
        delayed TCP ACK (Nagle), longer than a warm call. Called under the write lock, so a
        policy's definition always precedes its first use on the helper's stdin."""
        lines = b""
        policy = body.pop("policy", None)
        if policy is not None:
            text = json.dumps(policy, sort_keys=True)
            ref = hashlib.sha256(text.encode()).hexdigest()[:32]
            if ref not in self._sent_policies:
                lines += json.dumps({"id": "", "define": {"ref": ref, "policy": policy}}).encode() + b"\n"
                self._sent_policies.add(ref)
            body["policy_ref"] = ref
        return lines + json.dumps({"id": ident, "action": action, "request": body}).encode() + b"\n"

    def close(self) -> None:
        """End the helper: EOF first (it removes its calls' containers), then end the step."""
        try:
            if self._process.stdin is not None:
                self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            end_step(self._process)
        self._mark_dead("closed")

    # -- the reader threads and the watchdog --------------------------------------------------

    def _fail(self, why: str) -> None:
        self._mark_dead(why)
        end_step(self._process)

    def _mark_dead(self, why: str) -> None:
        with self._lock:
            if self._dead is None:
                tail = " ".join(self._stderr.decode("utf-8", "replace").split())[-800:]
                self._dead = why + (f" ({tail})" if tail else "")
            waiting = list(self._pending.values())
        self._ready.set()
        for pending in waiting:
            pending.done.set()

    def _read_replies(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        while True:
            line = stdout.readline(self._line_limit + 1)
            if not line:
                self._process.wait()
                self._mark_dead(f"the step ended (srun exit {self._process.returncode})")
                return
            if len(line) > self._line_limit:
                self._fail(f"a reply line passed {self._line_limit} bytes")
                return
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not one of the helper's lines (srun or Python may write a notice)
            if message.get("ready"):
                self._ready.set()
                continue
            with self._lock:
                pending = self._pending.get(str(message.get("id")))
            if pending is not None:
                pending.reply = message.get("reply")
                pending.done.set()

    def _read_stderr(self) -> None:
        stderr = self._process.stderr
        assert stderr is not None
        for chunk in iter(lambda: stderr.read1(4096), b""):  # type: ignore[attr-defined]
            with self._lock:
                self._stderr += chunk
                del self._stderr[:-_STDERR_KEEP]
