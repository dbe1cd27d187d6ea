"""The waiter's status line: the fast path and each way it falls back to the engine."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxPolicy
from sandbox.backends.docker import DockerBackend

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@pytest.fixture
def policy(sandbox_image: str, sandbox_runtime: str | None) -> SandboxPolicy:
    return SandboxPolicy(image=sandbox_image, runtime=sandbox_runtime, memory="128m", cpus=1, timeout_s=30)


@pytest.fixture
def engine_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids of the containers whose exit status was asked of the engine."""
    asked: list[str] = []
    original = DockerBackend._engine_exit

    def spy(self: DockerBackend, container_id: str, until: float) -> int | None:
        asked.append(container_id)
        return original(self, container_id, until)

    monkeypatch.setattr(DockerBackend, "_engine_exit", spy)
    return asked


def test_status_comes_from_the_line_and_stderr_keeps_no_trace(policy: SandboxPolicy, workspace: Path,
                                                              engine_asked: list[str]) -> None:
    with Sandbox(policy.model_copy(update={"pool_size": 1}), workspace) as sandbox:
        result = sandbox.exec("echo out; printf 'no newline' >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "no newline")
    assert engine_asked == []


def test_stderr_flood_keeps_the_cap_and_the_status(policy: SandboxPolicy, workspace: Path,
                                                   engine_asked: list[str]) -> None:
    capped = policy.model_copy(update={"output_limit_bytes": 64 * 1024})
    with Sandbox(capped, workspace) as sandbox:
        result = sandbox.exec("head -c 4000000 /dev/zero | tr '\\0' e >&2; echo END >&2; exit 7")
    assert result.exit_code == 7 and result.stderr_truncated
    assert result.stderr.startswith("e") and result.stderr.endswith("eeEND\n")
    assert f"[... {4_000_004 - 64 * 1024} bytes truncated ...]" in result.stderr
    assert engine_asked == []


def test_no_process_of_the_call_outlives_its_result(policy: SandboxPolicy, workspace: Path) -> None:
    writer = "(trap '' TERM HUP; while :; do echo x >> beat; sleep 0.01; done) & sleep 0.3; exit 0"
    with Sandbox(policy.model_copy(update={"pool_size": 1}), workspace) as sandbox:
        assert sandbox.exec(writer).exit_code == 0
        size = (workspace / "beat").stat().st_size
        time.sleep(0.5)
        assert (workspace / "beat").stat().st_size == size > 0


def test_killed_waiter_falls_back_to_the_engine(policy: SandboxPolicy, workspace: Path,
                                                engine_asked: list[str]) -> None:
    with Sandbox(policy, workspace) as sandbox:
        result = sandbox.exec("kill -TERM $PPID; sleep 10")
    assert result.exit_code == 143 and not result.timed_out and result.duration_s < 5
    assert engine_asked == [result.container_id]


def test_status_137_asks_the_engine_whether_it_was_an_oom_kill(policy: SandboxPolicy, workspace: Path,
                                                              engine_asked: list[str]) -> None:
    with Sandbox(policy, workspace) as sandbox:
        killed = sandbox.exec("kill -KILL $$")
    assert (killed.exit_code, killed.oom_killed) == (137, False)
    assert engine_asked == [killed.container_id]


FIND_TOKEN = textwrap.dedent("""
    import re, sys
    with open(f"/proc/{sys.argv[1]}/maps") as maps, open(f"/proc/{sys.argv[1]}/mem", "rb", 0) as mem:
        for region in maps:
            low, high = (int(x, 16) for x in region.split()[0].split("-"))
            if "rw" in region.split()[1]:
                mem.seek(low)
                found = re.search(rb"token=([0-9a-f]{32})\\0", mem.read(high - low))
                if found:
                    print(found[1].decode())
                    break
""")


def test_forged_status_line_only_chooses_the_commands_own_status(sandbox_image: str, workspace: Path,
                                                                 engine_asked: list[str]) -> None:
    """Under runc the command may read its waiter's memory (same uid) and forge the line."""
    policy = SandboxPolicy(image=sandbox_image, memory="128m", timeout_s=30)
    (workspace / "find_token.py").write_text(FIND_TOKEN)
    forge = "t=$(python3 find_token.py $PPID) && test -n \"$t\" && echo \"$t {status}\" >&2 && {then}"
    with Sandbox(policy, workspace) as sandbox:
        followed = sandbox.exec(forge.format(status=0, then="exit 5"))
        claimed_oom = sandbox.exec(forge.format(status=137, then="kill -KILL $PPID"))
        claimed_success = sandbox.exec(forge.format(status=0, then="kill -KILL $PPID"))
    # The waiter's own line comes last and wins; the forged one stays in stderr.
    assert followed.exit_code == 5 and followed.stderr.endswith(" 0\n"), followed
    # Status 137 is checked with the engine: no OOM flag without an OOM kill.
    assert (claimed_oom.exit_code, claimed_oom.oom_killed, claimed_oom.stderr) == (137, False, "")
    assert engine_asked == [claimed_oom.container_id]
    # Any other status is what the command could have chosen by exiting with it.
    assert (claimed_success.exit_code, claimed_success.timed_out) == (0, False)
