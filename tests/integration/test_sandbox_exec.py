"""The sandbox API against the real daemon and image: what callers rely on."""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import pytest

from sandbox import (GpuSelection, GpuUnavailable, ImageMissing, PolicyError, ReadOnlyMount, Sandbox, SandboxClosed,
                     SandboxPolicy, exec_once, gc)
from sandbox.command_line import register

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@pytest.fixture
def policy(sandbox_image: str) -> SandboxPolicy:
    return SandboxPolicy(image=sandbox_image, memory="256m", cpus=1, timeout_s=30)


@pytest.fixture
def both_runtimes(policy: SandboxPolicy, sandbox_runtime: str | None) -> SandboxPolicy:
    """The basic exec contract (waiter, attach stream, stdin framing, mounts) under runc and gVisor."""
    return policy.model_copy(update={"runtime": sandbox_runtime})


def test_argv_exit_code_and_streams(both_runtimes: SandboxPolicy, workspace: Path) -> None:
    policy = both_runtimes
    result = exec_once(["sh", "-c", "echo out; echo err >&2; exit 3"], policy, workspace)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok and not result.timed_out and not result.oom_killed


def test_shell_string_and_argv_quoting(policy: SandboxPolicy, workspace: Path) -> None:
    assert exec_once("echo $((6 * 7)) | tr 4 X", policy, workspace).stdout == "X2\n"
    assert exec_once(["echo", "a  b", "$HOME", "'q'"], policy, workspace).stdout == "a  b $HOME 'q'\n"


def test_stdin_is_delivered_then_closed(both_runtimes: SandboxPolicy, workspace: Path) -> None:
    policy = both_runtimes
    data = os.urandom(300_000)
    result = exec_once(["sh", "-c", "sha256sum"], policy, workspace, stdin=data)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert exec_once(["cat"], policy, workspace).stdout == ""  # no stdin: EOF at once


def test_workspace_is_the_writable_cwd(both_runtimes: SandboxPolicy, workspace: Path) -> None:
    policy = both_runtimes
    (workspace / "input.txt").write_text("from host")
    result = exec_once("pwd; cat input.txt; echo from sandbox > output.txt", policy, workspace)
    assert result.stdout == "/workspace\nfrom host"
    assert (workspace / "output.txt").read_text() == "from sandbox\n"


def test_python_with_torch_and_triton_in_the_image(policy: SandboxPolicy, workspace: Path) -> None:
    script = "import numpy, torch, triton, pydantic; print(torch.__version__.split('+')[0], torch.ones(2).sum().item())"
    result = exec_once(["python3", "-c", script], policy, workspace)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["2.13.0", "2.0"]


def test_read_only_mount_is_readable_not_writable(both_runtimes: SandboxPolicy, workspace: Path,
                                                 tmp_path: Path) -> None:
    policy = both_runtimes
    scorer = tmp_path / "scorer"
    scorer.mkdir()
    (scorer / "scorer.py").write_text("SECRET_REFERENCE = 1\n")
    mounted = policy.with_mounts(ReadOnlyMount(host=scorer, container="/opt/avo/scorer"))
    result = exec_once("cat /opt/avo/scorer/scorer.py && echo x > /opt/avo/scorer/scorer.py", mounted, workspace)
    assert result.stdout == "SECRET_REFERENCE = 1\n"
    # runc: the kernel checks the read-only mount first (EROFS); gVisor checks permissions
    # first, and the sandbox uid may not write the host's root-owned file (EACCES).
    refusal = "Permission denied" if policy.runtime == "runsc" and os.getuid() == 0 else "Read-only file system"
    assert result.exit_code != 0 and refusal in result.stderr
    assert (scorer / "scorer.py").read_text() == "SECRET_REFERENCE = 1\n"


def test_policy_env_and_allow_list(policy: SandboxPolicy, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVO_WANTED", "shared")
    monkeypatch.setenv("AVO_UNWANTED", "hidden")
    custom = policy.model_copy(update={"env": {"MODE": "fast"}, "env_allowlist": ["AVO_WANTED"]})
    result = exec_once("echo $MODE $AVO_WANTED ${AVO_UNWANTED:-unset} $HOME $TRITON_CACHE_DIR", custom, workspace)
    assert result.stdout == "fast shared unset /tmp /tmp/.triton\n"


def test_triton_cache_dir_allows_executing_compiled_objects(policy: SandboxPolicy, workspace: Path) -> None:
    result = exec_once("mkdir -p $TRITON_CACHE_DIR && cp /bin/true $TRITON_CACHE_DIR/t && $TRITON_CACHE_DIR/t",
                       policy, workspace)
    assert result.exit_code == 0, result.stderr


def test_each_call_is_a_fresh_container(policy: SandboxPolicy, workspace: Path, labelled_containers) -> None:
    with Sandbox(policy, workspace, run_id="fresh-per-call") as sandbox:
        first = sandbox.exec("cat /tmp/mark 2>/dev/null; echo one > /tmp/mark; hostname -I 2>/dev/null; true")
        second = sandbox.exec("cat /tmp/mark 2>/dev/null || echo clean")
        assert first.container_id != second.container_id
        assert second.stdout == "clean\n"
        assert labelled_containers("fresh-per-call") == 0


def test_close_is_idempotent_and_final(policy: SandboxPolicy, workspace: Path) -> None:
    sandbox = Sandbox(policy, workspace)
    sandbox.close()
    sandbox.close()
    with pytest.raises(SandboxClosed):
        sandbox.exec(["true"])


def test_missing_image_names_the_build_command(workspace: Path, docker_available) -> None:
    with pytest.raises(ImageMissing, match="did you mean sandbox.image: avo-sandbox:cpu.*`avo image build`"):
        exec_once(["true"], SandboxPolicy(image="avo-sandbox:cpuu"), workspace)


def test_gpus_without_toolkit_is_a_clear_error(policy: SandboxPolicy, workspace: Path, docker_available) -> None:
    if "nvidia" in docker_available.info().get("Runtimes", {}):
        pytest.skip("this host has the NVIDIA runtime")
    with pytest.raises(GpuUnavailable, match="NVIDIA Container Toolkit"):
        exec_once(["true"], policy.model_copy(update={"gpus": GpuSelection.parse(1)}), workspace)


def test_unknown_runtime_is_a_policy_error(policy: SandboxPolicy, workspace: Path) -> None:
    with pytest.raises(PolicyError, match="not registered"):
        exec_once(["true"], policy.model_copy(update={"runtime": "no-such-runtime"}), workspace)


def test_gc_of_an_idle_run_returns_zero(docker_available) -> None:
    assert gc(run_id="never-existed") == 0


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="avo")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_relays_output_and_exit_code(sandbox_image: str, workspace: Path, capfd) -> None:
    status = _cli("sandbox", "exec", "--workspace", str(workspace), "--memory", "128m", "--",
                  "sh", "-c", "echo relayed; echo oops >&2; exit 5")
    out, err = capfd.readouterr()
    assert (status, out, err) == (5, "relayed\n", "oops\n")


def test_cli_timeout_and_oom_statuses(sandbox_image: str, workspace: Path, capfd) -> None:
    assert _cli("sandbox", "exec", "--workspace", str(workspace), "--timeout", "1", "--", "sleep", "30") == 124
    assert _cli("sandbox", "exec", "--workspace", str(workspace), "--memory", "64m", "--",
                "python3", "-c", "b = bytearray(512 * 2**20)") == 137
    err = capfd.readouterr().err
    assert "timeout" in err and "out of memory" in err


def test_cli_errors_are_one_line(workspace: Path, capfd, docker_available) -> None:
    assert _cli("sandbox", "exec", "--workspace", str(workspace), "--image", "nope:latest", "--", "true") == 125
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_reports_a_missing_daemon(workspace: Path, capfd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert _cli("sandbox", "exec", "--workspace", str(workspace), "--", "true") == 125
    err = capfd.readouterr().err
    assert "no Docker daemon" in err and "dockerd" in err and err.count("\n") == 1


def test_cli_gc_and_image_status(docker_available, capfd) -> None:
    assert _cli("gc", "--run", "never-existed") == 0
    assert _cli("image") == 0
    out = capfd.readouterr().out
    assert "removed 0" in out and "avo-sandbox:cpu: present" in out
