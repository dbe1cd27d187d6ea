"""Real tenants and real brokers for the multi-tenant tests (no fakes of either).

``scripts/setup-broker.sh`` (run by ``.ci/run``) creates the tenants ``avo-t1`` and
``avo-t2`` (group ``avo-tenants``) and ``/opt/avo/venv``, a Python they may run. Each
test module starts brokers of its own (``avo-sandboxd serve`` from this checkout, as
root, on a socket and host policy of its own), so a test may kill and restart one
without touching the host's broker or another test's. Tenant processes run as those
users with ``setpriv`` on a world-readable copy of this checkout's ``sandbox`` and
``orchestrator`` (a checkout under ``/root`` is unreadable to them).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runtimes import unavailable

REPO = Path(__file__).resolve().parents[1]
TENANTS = ("avo-t1", "avo-t2")
TENANT_PYTHON = "/opt/avo/venv/bin/python"
#: Where the tests' brokers keep their sockets, pins and tenant folders.
TEST_RUN = Path("/run/avo-test")
TEST_SRV = Path("/srv/avo-test")


def require_tenants(extra: tuple[str, ...] = ()) -> None:
    """Skip without root, the tenant users (``extra`` too) or their Python; fail instead under CI=true."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the tests must run as root (they start brokers and act as tenants)")
    for user in (*TENANTS, *extra):
        try:
            pwd.getpwnam(user)
        except KeyError:
            problems.append(f"user {user} is missing")
    if not os.access(TENANT_PYTHON, os.X_OK):
        problems.append(f"{TENANT_PYTHON} is missing")
    if problems:
        unavailable("; ".join(problems) + " (scripts/setup-broker.sh sets them up)")


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def tenant_dir(path: Path, user: str) -> Path:
    """A folder owned by ``user`` (mode 0700), with parents made as root."""
    path.mkdir(parents=True, exist_ok=True)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
    return path


def mount_nosuid_root(path: Path) -> Path:
    """A filesystem of its own at ``path``, mounted nosuid (a tmpfs): what docs/multi-tenant.md asks the
    admin to give workspace roots, so the broker may lease GPUs to sessions under it."""
    path.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(path):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,mode=0755,size=1g", "tmpfs", str(path)],
                       check=True)
    return path


def unmount_root(path: Path) -> None:
    """Undo :func:`mount_nosuid_root` (lazily: a dying container may still hold a file)."""
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=True)


def rule(group: str = "avo-tenants", **overrides: Any) -> dict[str, Any]:
    """A tenant entry for the tests' brokers: the CPU image, small limits, the test roots."""
    entry: dict[str, Any] = {"group": group, "images": ["avo-sandbox:cpu"], "runtimes": ["runc"],
                             "max_containers": 4, "max_pool": 2, "max_cpus": 2, "max_memory": "1g",
                             "max_pids": 512, "max_timeout_s": 600}
    entry.update(overrides)
    return entry


@dataclass
class TestBroker:
    """One ``avo-sandboxd`` of a test's own, started from this checkout."""

    __test__ = False  # not a test class

    name: str
    tenants: list[dict[str, Any]]
    gpus: list[dict[str, Any]] = field(default_factory=list)
    fake_gpu_host: bool = False
    #: Workspace roots on a nosuid filesystem of their own (the admin step GPU leases need).
    nosuid_roots: bool = True
    gpu_group: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)  # the host policy's `limits`
    nofile: int | None = None  # start the broker under this descriptor limit (prlimit)
    process: subprocess.Popen[bytes] | None = None

    @property
    def home(self) -> Path:
        return TEST_RUN / self.name

    @property
    def socket(self) -> str:
        return str(self.home / "sandboxd.sock")

    @property
    def roots(self) -> Path:
        return TEST_SRV / self.name

    @property
    def audit_path(self) -> Path:
        return self.home / "audit.jsonl"

    @property
    def pins(self) -> Path:
        return self.home / "state" / "mounts"

    def start(self) -> "TestBroker":
        self.home.mkdir(parents=True, exist_ok=True)
        self.roots.mkdir(parents=True, exist_ok=True)
        if self.nosuid_roots:
            mount_nosuid_root(self.roots)
        self.roots.chmod(0o755)
        config = self.home / "sandboxd.yaml"
        config.write_text(yaml.safe_dump({
            "name": self.name, "socket": self.socket, "state_dir": str(self.home / "state"),
            "audit_log": str(self.audit_path), "gpus": self.gpus, "tenants": self.tenants,
            "gpu_group": self.gpu_group,
            **({"limits": self.limits} if self.limits else {})}))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if self.fake_gpu_host:
            # No GPU exists here: a stand-in for the NVIDIA runtime hook lets a session that
            # leases a (policy-declared) GPU open, so leases are held by real sessions; any
            # call that would need the device still fails at the engine.
            hook = self.home / "bin" / "nvidia-container-runtime-hook"
            hook.parent.mkdir(exist_ok=True)
            hook.write_text("#!/bin/sh\nexit 1\n")
            hook.chmod(0o755)
            env["PATH"] = f"{hook.parent}:{env.get('PATH', '')}"
        log = open(self.home / "broker.log", "ab")
        limit = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--"] if self.nofile else []
        self.process = subprocess.Popen([*limit, sys.executable, "-m", "sandbox.broker", "serve", "--config",
                                         str(config)], env=env, stdout=log, stderr=log, cwd=REPO)
        deadline = time.monotonic() + 30
        while not _answers(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"broker {self.name} did not start:\n{(self.home / 'broker.log').read_text()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL: the broker gets no chance to clean up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def workspace(self, user: str, name: str = "") -> Path:
        """A fresh folder of ``user`` under its root on this broker."""
        tenant_dir(self.roots / user, user)
        return tenant_dir(self.roots / user / (name or uuid.uuid4().hex[:8]), user)

    def remove(self) -> None:
        """Stop the broker and remove all it had; what a killed one left is swept first, as a
        restarted broker would (never an rmtree through a mount pin into a tenant's folder)."""
        from sandbox.broker.mount_guard import MountPins

        self.stop()
        subprocess.run(["docker", "rm", "-f", *_labelled(f"avo.broker={self.name}")], capture_output=True)
        MountPins(self.home / "state").sweep()
        unmount_root(self.roots)
        shutil.rmtree(self.roots, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)


def _labelled(label: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True)
    return out.stdout.split()


def containers_labelled(label: str) -> list[str]:
    return _labelled(label)


def _answers(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(path)
        return True
    except OSError:
        return False


def tenant_code(base: Path) -> Path:
    """A copy of this checkout's packages and tenant scripts that every user can read."""
    code = base / "code"
    if not code.exists():
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in ("avo", "sandbox", "orchestrator"):
            shutil.copytree(REPO / package, code / package, ignore=ignore)
        for script in ("tenant_call.py", "tenant_attack.py"):
            shutil.copy(REPO / "tests" / "broker" / script, code / script)
        for path in [base, *code.rglob("*"), code]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return code


def as_tenant(user: str, argv: list[str], code: Path, env: dict[str, str] | None = None) -> list[str]:
    """The command line that runs ``argv`` (after the tenant Python) as ``user``, in an
    environment of its own: the tenant's basics plus ``env`` (a provider key, say)."""
    extra = [f"{name}={value}" for name, value in (env or {}).items()]
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "env", "-i",
            "PATH=/usr/local/bin:/usr/bin:/bin", f"PYTHONPATH={code}", "PYTHONDONTWRITEBYTECODE=1",
            "HOME=/tmp", *extra, TENANT_PYTHON, *argv]


def run_tenant(user: str, code: Path, request: dict[str, Any], timeout: float = 120,
               script: str = "tenant_call.py") -> list[dict[str, Any]]:
    """Run ``script`` (``tenant_call.py``, or ``tenant_attack.py``) as ``user`` with ``request``;
    its events (stderr in the last one)."""
    done = subprocess.run(as_tenant(user, [str(code / script), json.dumps(request)], code),
                          capture_output=True, text=True, timeout=timeout, cwd="/")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert events, f"tenant script printed nothing; stderr:\n{done.stderr}"
    events[-1]["stderr"] = done.stderr
    return events


def start_tenant(user: str, code: Path, request: dict[str, Any],
                 script: str = "tenant_call.py") -> subprocess.Popen[str]:
    """Start ``script`` as ``user``; it prints one JSON line per event."""
    return subprocess.Popen(as_tenant(user, ["-u", str(code / script), json.dumps(request)], code),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")


_CONNECT = """
import socket, sys
channel = socket.socket(fileno=int(sys.argv[2]))
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect(sys.argv[1])
socket.send_fds(channel, [b"c"], [conn.fileno()])
"""


def tenant_connector(user: str):  # type: ignore[no-untyped-def]
    """A ``connect_unix`` replacement for an in-process client: the connection is made by a
    process running as ``user`` (so the broker's SO_PEERCRED sees that tenant) and its
    descriptor handed back over SCM_RIGHTS."""
    def connect(path: str) -> socket.socket:
        parent, child = socket.socketpair()
        with parent, child:
            subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                            "/usr/bin/python3", "-c", _CONNECT, path, str(child.fileno())],
                           pass_fds=[child.fileno()], check=True, timeout=30)
            _, fds, _, _ = socket.recv_fds(parent, 1, 1)
        return socket.socket(fileno=fds[0])
    return connect
