"""Hostile programs that would succeed on the host and must fail in the sandbox.

Each test runs a small attack through the real sandbox (real daemon, real
image) and asserts the guarantee of SECURITY.md it targets. Limits are kept
small so the whole file runs in well under a minute or two on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runtimes import RUNTIMES, registered_runtime
from sandbox import Sandbox, SandboxClosed, SandboxPolicy, exec_once, gc
from sandbox.backends.base import LABEL_PID, LABEL_RUN, LABEL_STARTED, call_labels
from sandbox.backends.docker import SANDBOX_UID
from tenant_hosts import uid_of

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=[*RUNTIMES, "broker"])
def policy(request: pytest.FixtureRequest, sandbox_image: str, docker_available) -> SandboxPolicy:
    """Every attack that takes this policy runs under runc, under gVisor (runsc), and as a
    real tenant through a multi-tenant broker (runc; see tests/security/conftest.py)."""
    attack = SandboxPolicy(image=sandbox_image, memory="128m", cpus=1, pids_limit=64, timeout_s=20)
    if request.param == "broker":
        return request.getfixturevalue("through_broker")(attack)
    return attack.model_copy(update={"runtime": registered_runtime(request.param, docker_available)})


def _python(code: str) -> list[str]:
    return ["python3", "-c", textwrap.dedent(code)]


def _gone(client, container_id: str | None) -> bool:  # type: ignore[no-untyped-def]
    return not client.containers.list(all=True, filters={"id": container_id})


# 1. No privilege gain ---------------------------------------------------------------

def test_no_capabilities_seccomp_on_and_no_new_privileges(policy: SandboxPolicy, workspace: Path) -> None:
    status = exec_once(["cat", "/proc/self/status"], policy, workspace).stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == 0
    assert int(fields["CapPrm"], 16) == 0
    assert fields["Seccomp"].strip() == "2"  # under runsc: Docker's profile, applied by --oci-seccomp
    if policy.runtime == "runsc":
        # gVisor's /proc/self/status has no NoNewPrivs line: ask the (emulated) kernel directly.
        no_new_privs = exec_once(_python("import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))"),
                                 policy, workspace).stdout.strip()  # 39: PR_GET_NO_NEW_PRIVS
        assert no_new_privs == "1"
    else:
        assert fields["NoNewPrivs"].strip() == "1"
    assert exec_once(["id", "-u"], policy, workspace).stdout.strip() != "0"


def test_mount_fails(policy: SandboxPolicy, workspace: Path) -> None:
    result = exec_once("mkdir -p /tmp/m && mount -t tmpfs none /tmp/m", policy, workspace)
    assert result.exit_code != 0


def test_user_namespace_escape_fails(policy: SandboxPolicy, workspace: Path) -> None:
    result = exec_once(["unshare", "-r", "id", "-u"], policy, workspace)
    assert result.exit_code != 0 and result.stdout.strip() != "0"


def test_setuid_binary_cannot_gain_root(policy: SandboxPolicy, workspace: Path) -> None:
    # os.stat, not coreutils' stat: gVisor 20221219 (Debian's runsc) rejects the AT_NO_AUTOMOUNT
    # flag coreutils passes to statx (EINVAL), so `stat`/`ls -l` fail there.
    mode = "python3 -c 'import os; print(oct(os.stat(\"/bin/su\").st_mode & 0o7777)[2:])'"
    result = exec_once(f"{mode}; su -c 'id -u' root </dev/null; echo rc=$?", policy, workspace)
    lines = result.stdout.split()
    assert lines[0] == "4755"  # the attack is real: su is setuid root in the image
    assert "0" not in lines[1:-1] and lines[-1] != "rc=0"


# 4. Resource bounds -----------------------------------------------------------------

def test_memory_bomb_is_oom_killed(policy: SandboxPolicy, workspace: Path) -> None:
    bomb = _python("""
        chunks = []
        while True:
            chunks.append(bytearray(16 * 2**20))
    """)
    result = exec_once(bomb, policy.model_copy(update={"memory": "64m"}), workspace)
    assert result.oom_killed
    assert result.exit_code == 137


def test_fork_bomb_hits_pids_limit_and_host_stays_responsive(policy: SandboxPolicy, workspace: Path,
                                                             docker_available) -> None:
    counter = _python("""
        import os, time
        n = 0
        while True:
            try:
                pid = os.fork()
            except OSError:
                print(n)
                break
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            n += 1
    """)
    forks = exec_once(counter, policy, workspace)
    if policy.runtime == "runsc" and forks.exit_code != 0:
        # Under gVisor the pids cgroup bounds the Sentry's host threads (each guest process
        # costs several), not guest processes: at the limit the Sentry cannot grow and the
        # whole sandbox ends (Go's exit 2) instead of fork() failing. Bounded all the same.
        assert not forks.timed_out and forks.stdout == "", forks
    else:
        assert forks.exit_code == 0, forks.stderr
        assert 0 < int(forks.stdout) < policy.pids_limit

    outcome: dict[str, object] = {}
    # The call's own shell forks twice, both before the bomb has grown (the sleeper, and one
    # subshell the bomb grows in), then waits with a builtin: dash ends on a failed fork
    # ("Cannot fork", exit 2), which used to end the call before the deadline under test.
    classic = "sleep 30 & sleeper=$!; bomb() { bomb | bomb & }; (bomb) & wait $sleeper"
    attack = threading.Thread(target=lambda: outcome.update(
        result=exec_once(classic, policy.model_copy(update={"timeout_s": 4.0}), workspace)))
    attack.start()
    time.sleep(1.0)
    worst = 0.0
    while attack.is_alive():
        started = time.monotonic()
        subprocess.run(["true"], check=True)
        worst = max(worst, time.monotonic() - started)
        time.sleep(0.1)
    attack.join()
    result = outcome["result"]
    assert worst < 1.0, f"host stalled for {worst:.2f} s during the fork bomb"
    # runsc: the bomb ends the whole sandbox at the pids limit (see above) before the deadline.
    ended_by_sentry = policy.runtime == "runsc" and result.exit_code not in (0, 124)  # type: ignore[attr-defined]
    assert result.timed_out or ended_by_sentry  # type: ignore[attr-defined]
    assert _gone(docker_available, result.container_id)  # type: ignore[attr-defined]


def test_oversized_write_fails(policy: SandboxPolicy, workspace: Path) -> None:
    capped = policy.model_copy(update={"max_file_size": "1m"})
    result = exec_once("head -c 4m /dev/zero > /workspace/big", capped, workspace)
    assert result.exit_code != 0
    assert (workspace / "big").stat().st_size <= 2**20


# 5. Deadline on the whole container -------------------------------------------------

def test_busy_loop_is_killed_at_the_deadline(policy: SandboxPolicy, workspace: Path, docker_available) -> None:
    result = exec_once(_python("while True: pass"), policy.model_copy(update={"timeout_s": 1.5}), workspace)
    assert result.timed_out and result.exit_code == 124
    assert 1.5 <= result.duration_s < 6.0  # the loop never ends by itself; slack for a loaded 2-core CI
    assert _gone(docker_available, result.container_id)


def test_sigterm_ignoring_forked_tree_dies_with_the_container(policy: SandboxPolicy, workspace: Path,
                                                              docker_available) -> None:
    tree = _python("""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    while True:
                        time.sleep(1)
                while True:
                    pass
        print("forked", flush=True)
        while True:
            time.sleep(1)
    """)
    # 3 s: Python's start under gVisor on a loaded CI machine must not eat the deadline before "forked".
    result = exec_once(tree, policy.model_copy(update={"timeout_s": 3.0}), workspace)
    assert result.stdout == "forked\n"
    assert result.timed_out and result.duration_s < 8.0
    assert _gone(docker_available, result.container_id)


# 6. Output cap ----------------------------------------------------------------------

def test_one_gigabyte_flood_is_capped(policy: SandboxPolicy, workspace: Path) -> None:
    cap = 64 * 1024
    # gVisor's ptrace platform pipes ~25 MB/s here (1 GiB would add 45 s to CI): 128 MiB
    # under runsc is still 2,000x the cap, which is what is under test. The broker runs the
    # same capped pump as the docker backend: 128 MiB through it too (CI time).
    size = 2**27 if policy.runtime == "runsc" or policy.backend == "broker" else 2**30
    flood = f"head -c {size} /dev/zero | tr '\\0' x; echo TAIL-MARK"
    result = exec_once(flood, policy.model_copy(update={"output_limit_bytes": cap, "timeout_s": 60}), workspace)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_truncated
    assert len(result.stdout.encode()) <= cap + 64
    assert result.stdout.startswith("x") and result.stdout.endswith("TAIL-MARK\n")
    assert f"[... {size + 10 - cap} bytes truncated ...]" in result.stdout


# 2. No network ----------------------------------------------------------------------

def _host_listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen()
    return server, server.getsockname()[1]


def _bridge_gateway(client) -> str:  # type: ignore[no-untyped-def]
    configs = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or [{}]
    return configs[0].get("Gateway") or "172.17.0.1"


def test_network_is_unreachable(policy: SandboxPolicy, workspace: Path, docker_available) -> None:
    server, port = _host_listener()
    gateway = _bridge_gateway(docker_available)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the listener works from the host: the attack below would succeed there
        probe = _python(f"""
            import json, socket
            outcome = {{}}
            for name, address in {{"outside": ("1.1.1.1", 53), "gateway": ("{gateway}", 80),
                                   "host_listener": ("{gateway}", {port})}}.items():
                try:
                    socket.create_connection(address, timeout=2).close()
                    outcome[name] = "connected"
                except OSError as exc:
                    outcome[name] = type(exc).__name__
            try:
                socket.getaddrinfo("pypi.org", 443)
                outcome["dns"] = "resolved"
            except OSError as exc:
                outcome["dns"] = type(exc).__name__
            print(json.dumps(outcome))
        """)
        result = exec_once(probe, policy, workspace)
    finally:
        server.close()
    outcome = json.loads(result.stdout)
    assert set(outcome) == {"outside", "gateway", "host_listener", "dns"}
    assert "connected" not in outcome.values() and outcome["dns"] != "resolved", outcome


# 3. Filesystem confinement ----------------------------------------------------------

def test_root_filesystem_is_read_only(policy: SandboxPolicy, workspace: Path) -> None:
    result = exec_once("for d in /usr /etc /; do touch $d/pwned 2>/dev/null && echo wrote $d; done; "
                       "touch /tmp/ok /workspace/ok && echo scratch-ok", policy, workspace)
    assert result.stdout == "scratch-ok\n"


def test_host_files_outside_the_workspace_are_invisible(policy: SandboxPolicy, workspace: Path,
                                                        tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("top secret")
    result = exec_once(["sh", "-c", f"cat {secret} /root/.bash_history /etc/shadow 2>&1; ls {tmp_path}"],
                       policy, workspace)
    assert "top secret" not in result.stdout
    assert result.exit_code != 0


# A host socket can only arrive by a bind mount: look for it by name on the root file
# system (but /usr, the read-only image's 31,000 files, which take gVisor longer to walk
# than the call's deadline) and for any socket inside or at every other mount point.
LOOK_FOR_SOCKETS = r"""
find / -xdev -path /usr -prune -o \( -name docker.sock -o -name containerd.sock \) -print 2>/dev/null
awk '{print $5}' /proc/self/mountinfo | grep -vE '^/$|^/(proc|sys|dev)(/|$)' | while read -r point; do
    find "$point" -xdev -maxdepth 4 -type s 2>/dev/null
done
test -S /var/run/docker.sock || test -S /run/docker.sock
"""


def test_no_docker_socket(policy: SandboxPolicy, workspace: Path) -> None:
    assert Path("/var/run/docker.sock").is_socket()  # reachable on the host
    result = exec_once(LOOK_FOR_SOCKETS, policy, workspace)
    assert result.stdout == "" and result.exit_code == 1, result


# 8. No secrets inside ---------------------------------------------------------------

def test_host_api_key_is_not_visible(policy: SandboxPolicy, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-host-key-1234")
    assert "sk-fake" in subprocess.run(["env"], capture_output=True, text=True).stdout  # visible on the host
    result = exec_once("env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'", policy, workspace)
    assert result.exit_code == 0
    assert "sk-fake" not in result.stdout and "OPENAI_API_KEY" not in result.stdout


# Workspace ownership ----------------------------------------------------------------

def test_workspace_files_belong_to_the_policy_uid_and_stay_usable(policy: SandboxPolicy, workspace: Path) -> None:
    result = exec_once("mkdir -p sub && echo data > sub/made.txt && id -u", policy, workspace)
    assert result.exit_code == 0, result.stderr
    if policy.backend == "broker":
        expected_uid = uid_of("avo-t1")  # the broker runs a tenant's calls as that tenant
    else:
        expected_uid = SANDBOX_UID if os.getuid() == 0 else os.getuid()
    made = workspace / "sub" / "made.txt"
    assert int(result.stdout) == expected_uid
    assert made.stat().st_uid == expected_uid
    assert made.read_text() == "data\n"
    with made.open("a") as handle:  # the host user can still write what the sandbox made
        handle.write("more\n")
    assert not made.stat().st_mode & stat.S_ISUID


# 7. Disposal and no leaks -----------------------------------------------------------

_HOLDER = """
import sys
from pathlib import Path
from sandbox import Sandbox, SandboxPolicy
policy = SandboxPolicy(image=sys.argv[3], memory="64m", timeout_s=600, pool_size=1)
with Sandbox(policy, Path(sys.argv[2]), run_id=sys.argv[1]) as sandbox:
    print("open", flush=True)
    sandbox.exec(["sleep", "600"])
"""


def _crash_mid_call(run_id: str, workspace: Path, image: str, labelled_containers) -> None:  # type: ignore[no-untyped-def]
    """Start a process that holds a sandbox (and a warm pool) mid-call, then SIGKILL it."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, run_id, str(workspace), image],
                              stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        deadline = time.monotonic() + 30
        while labelled_containers(run_id) < 2:  # the in-flight call and the pool's refill
            assert time.monotonic() < deadline, "the holder never started its containers"
            time.sleep(0.1)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert labelled_containers(run_id) >= 1  # nothing cleaned up after a SIGKILL


def test_gc_removes_a_crashed_runs_containers(sandbox_image: str, workspace: Path, labelled_containers) -> None:
    run_id = f"crashed-{os.getpid()}"
    _crash_mid_call(run_id, workspace, sandbox_image, labelled_containers)
    assert gc(run_id=run_id) >= 1
    assert labelled_containers(run_id) == 0


def test_restarted_run_sweeps_its_stale_containers(sandbox_image: str, workspace: Path,
                                                   labelled_containers) -> None:
    crashed = f"crashed-{os.getpid()}"
    _crash_mid_call(crashed, workspace, sandbox_image, labelled_containers)
    # A restarted run gets a new run id, as the runner gives every run (resumed or not).
    with Sandbox(SandboxPolicy(image=sandbox_image), workspace, run_id=f"restarted-{os.getpid()}"):
        assert labelled_containers(crashed) == 0


def test_a_reused_pid_does_not_keep_a_stale_container(sandbox_image: str, workspace: Path,
                                                      docker_available, labelled_containers) -> None:
    """Containers labelled with this (live) PID: one with this process's start time is kept,
    one with another start time (the PID's earlier owner, long dead) is swept, and so is
    one whose PID no longer exists."""
    labels = call_labels(f"reused-{os.getpid()}", "default", "shell")
    dead = subprocess.Popen(["true"])
    dead.wait()
    made = {
        "live": labels,
        "reused": {**labels, LABEL_STARTED: f"{float(labels[LABEL_STARTED]) - 3600:.2f}"},
        "dead": {**labels, LABEL_PID: str(dead.pid)},
    }
    for name, container_labels in made.items():
        docker_available.api.create_container(sandbox_image, "true", labels={**container_labels, "avo.test": name})
    run = labels[LABEL_RUN]
    try:
        assert labelled_containers(run) == 3
        with Sandbox(SandboxPolicy(image=sandbox_image), workspace, run_id=f"other-{os.getpid()}"):
            left = docker_available.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"})
            assert [c.labels["avo.test"] for c in left] == ["live"]
        assert gc(run_id=run) == 0 and labelled_containers(run) == 1  # plain gc keeps the live one
        assert gc(run_id=run, force=True) == 1
    finally:
        gc(run_id=run, force=True)


def test_close_removes_every_container_even_one_in_flight(sandbox_image: str, workspace: Path,
                                                         labelled_containers) -> None:
    """What a signal handler closing the sandbox relies on: warm and in-flight containers
    go at once, and the interrupted call returns instead of waiting for its deadline."""
    run_id = f"closing-{os.getpid()}"
    sandbox = Sandbox(SandboxPolicy(image=sandbox_image, pool_size=2, timeout_s=120), workspace, run_id=run_id)
    outcome: dict[str, object] = {}

    def sleep_in_flight() -> None:
        try:
            sandbox.exec(["sleep", "100"])
        except SandboxClosed as exc:
            outcome["closed"] = exc

    call = threading.Thread(target=sleep_in_flight)
    call.start()
    deadline = time.monotonic() + 30
    while labelled_containers(run_id) < 3:  # the call's container and two warm ones
        assert time.monotonic() < deadline, "the sandbox never started its containers"
        time.sleep(0.1)
    started = time.monotonic()
    sandbox.close()
    assert labelled_containers(run_id) == 0
    call.join(timeout=30)
    assert not call.is_alive() and time.monotonic() - started < 30
    assert "closed during the call" in str(outcome["closed"])
    sandbox.close()  # safe twice


def test_warm_pool_never_hands_out_a_used_container(policy: SandboxPolicy, workspace: Path,
                                                    docker_available, labelled_containers) -> None:
    pooled = policy.model_copy(update={"pool_size": 2})
    seen: list[str] = []
    with Sandbox(pooled, workspace, run_id=f"pool-{os.getpid()}") as sandbox:
        for _ in range(6):
            result = sandbox.exec("test -e /tmp/used && echo REUSED; touch /tmp/used; echo fresh")
            assert result.stdout == "fresh\n"
            seen.append(result.container_id or "")
        assert len(set(seen)) == len(seen)
    assert labelled_containers(f"pool-{os.getpid()}") == 0
    assert all(_gone(docker_available, container_id) for container_id in seen)


# Local backend ----------------------------------------------------------------------

def test_local_backend_warns_on_every_call(workspace: Path, capfd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-host-key-1234")
    local = SandboxPolicy(backend="local", timeout_s=5)
    with Sandbox(local, workspace) as sandbox:
        first = sandbox.exec("echo ${OPENAI_API_KEY:-unset}; pwd")
        second = sandbox.exec(["sleep", "30"], timeout_s=0.5)
    assert first.stdout == f"unset\n{workspace}\n"
    assert second.timed_out and second.exit_code == 124
    assert capfd.readouterr().err.count("WITHOUT isolation") == 2
