"""Attacks on the sandbox and scoring boundary, run through a real `avo run`.

Each test drives `python -m orchestrator run` with the real `openai` SDK against the
scripted LLM server, so every hostile step goes the way a model's would: through the
agent's tools, the sandbox and the scorer. Several attacks share one run to keep
the suite short:

- the whole scorer folder is never mounted: a candidate hunting for `.env`, the
  lineage and the run log (with `workspace_dir: .`) finds only the staged scorer and
  its declared files, and nothing secret reaches the model;
- a FIFO planted through `run_shell` never blocks the host's file tools;
- hostile permissions (`chmod 000` folders left in the scoring folder, `chmod 444`
  files in a `chmod 555` work tree) never stop a reset, a restore or a resume, for a
  host user the kernel holds to permissions;
- a killed run's containers are removed when the next run starts (with a new run
  id), while `avo gc` keeps a live run's containers;
- `sandbox.backend: local` scores, warning on every call;
- `sandbox.gpus: all` is refused unless `sandbox.allow_all_gpus` is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from orchestrator.core.run_log import read_events
from sum_of_squares import FASTER, FASTEST, SCORER, SEED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))  # the scripted server lives with the agent tests
from scripted_llm_server import Reply, ScriptedLLMServer, call, calls  # noqa: E402
from unprivileged import as_user, e2e_user  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MODEL = "scripted-model"
KEY = "sk-test"
TURN_TOKENS = 120  # the scripted server's default usage per reply
SECRET = "sk-live-beside-the-scorer-8f3a"
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")

#: A candidate that hunts for secrets wherever the scoring container might show them, and
#: raises them in its exception, whose text the agent's evaluate() hands to the model.
LOOTER = '''
import os
loot = {}
for top in ("/opt/avo/scorer", "/workspace", "/tmp", "/home", "/root", "/srv", "/mnt"):
    for folder, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            if folder.startswith("/opt/avo/scorer") or "lineage" in path or name.endswith((".env", ".jsonl", ".yaml")):
                try:
                    loot[path] = open(path, errors="replace").read()[:120]
                except OSError as exc:
                    loot[path] = type(exc).__name__
raise RuntimeError("LOOT-KEYS " + repr(sorted(loot)) + " LOOT " + repr(loot)[:2500])
'''

#: A correct, faster candidate that leaves its scoring folder hostile: a folder the host
#: user can neither list nor enter, inside a folder it cannot write.
TRAP = '''import os
os.makedirs("trap/inner", exist_ok=True)
open("trap/inner/f", "w").write("x")
os.chmod("trap/inner", 0)
os.chmod("trap", 0o500)
os.chmod(".", 0o500)
''' + FASTER
#: The same in the work tree, by the agent's shell: a read-only solution in a read-only tree.
HOSTILE_TREE = ("chmod 444 solution.py && mkdir -p cage/inner && touch cage/inner/f && chmod 000 cage/inner "
                "&& chmod 500 cage && chmod 555 .")


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


def write_config(project: Path, server: ScriptedLLMServer, **settings: Any) -> Path:
    """The config; a small min_improvement: each candidate is several times faster than the best,
    and a loaded CI machine must not turn timing noise into a rejection the script did not plan."""
    config = {"seed_file": "seed.py", "scoring_module": "scorer.py", "min_improvement": 0.01,
              "supervisor": {"enabled": False},
              "llm": {"provider": "openai", "model": MODEL, "base_url": server.openai_base_url}, **settings}
    path = project / "avo.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def avo_command(config: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator", "run", str(config), *flags]


def avo_env(pythonpath: Path = REPO, **extra: str) -> dict[str, str]:
    """The host's environment without provider keys, the scripted server's key added."""
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update({"PYTHONPATH": str(pythonpath), "OPENAI_API_KEY": KEY, **extra})
    return env


def sent_text(server: ScriptedLLMServer) -> str:
    """Everything the model was sent, as one string."""
    return "\n".join(json.dumps(request.body) for request in server.requests)


def versions(lineage: Path) -> dict[str, str]:
    """Each tag's solution file. `-c safe.directory`: the repository may be another user's."""
    def git_(*args: str) -> str:
        return subprocess.run(["git", "-c", "safe.directory=*", "-C", str(lineage), *args], check=True,
                              capture_output=True, text=True).stdout
    return {tag: git_("show", f"{tag}:solution.py") for tag in git_("tag").split()}


def tool_events(workspace: Path, tool: str) -> list[dict[str, Any]]:
    return [e for e in read_events(workspace / "events.jsonl", "agent_tool") if e["tool"] == tool]


# Items 1 and 3 ------------------------------------------------------------------------------

def test_a_candidate_sees_no_secret_and_a_fifo_blocks_nothing(tmp_path: Path, sandbox_image: str,
                                                              llm_server: ScriptedLLMServer) -> None:
    """`workspace_dir: .` in a folder holding `.env`: the candidate finds only the staged scorer
    and its declared file. Then FIFOs planted by the shell (one as the solution file) are
    refused by every file tool at once, and the step still commits."""
    project = tmp_path
    project.chmod(0o755)  # readable by all, as users' folders are: only staging keeps .env out
    (project / "scorer.py").write_text(SCORER)
    (project / "seed.py").write_text(SEED)
    (project / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (project / "notes").mkdir()
    (project / "notes" / "public.txt").write_text("PUBLIC-NOTE for the scorer\n")
    fifo_calls = [("write_file", {"path": "pipe.txt", "content": "x"}), ("read_file", {"path": "pipe.txt"}),
                  ("edit_file", {"path": "pipe.txt", "search": "a", "replace": "b"}),
                  ("write_file", {"path": "solution.py", "content": FASTER}), ("evaluate", {}),
                  ("submit", {"rationale": "a FIFO as the candidate"})]
    script = [calls(("write_file", {"path": "solution.py", "content": LOOTER}), ("evaluate", {})),
              call("run_shell", {"command": "mkfifo pipe.txt && rm solution.py && mkfifo solution.py"}),
              calls(*fifo_calls),
              calls(("run_shell", {"command": "rm solution.py"}),
                    ("write_file", {"path": "solution.py", "content": FASTER}), ("evaluate", {})),
              call("submit", {"rationale": "sleep less"})]
    llm_server.script(*script)
    config = write_config(project, llm_server, workspace_dir=".", scorer_files=["notes/*.txt"],
                          budget={"max_total_tokens": len(script) * TURN_TOKENS})
    started = time.monotonic()
    done = subprocess.run(avo_command(config), env=avo_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 200

    sent = sent_text(llm_server)
    assert "PUBLIC-NOTE" in sent  # the looter ran and read what was staged for the scorer...
    assert SECRET not in sent and "events.jsonl" not in sent  # ...and nothing else
    assert set(re.findall(r"LOOT-KEYS (\[[^\]]*\])", sent)) == {
        "['/opt/avo/scorer/notes/public.txt', '/opt/avo/scorer/scorer.py']"}

    refused = [e for e in read_events(project / "events.jsonl", "agent_tool") if e["turn"] == 3]
    assert [e["tool"] for e in refused] == [name for name, _ in fifo_calls]
    assert all(e["is_error"] and e["duration_s"] < 1.0 for e in refused), refused
    assert "FIFO" in sent
    assert versions(project / "lineage") == {"v0": SEED, "v1": FASTER}
    assert not (project / "staged").exists() or not any((project / "staged").iterdir())  # removed at the end


# Items 6 and 4 ------------------------------------------------------------------------------

def _unprivileged_project(user: Any) -> Path:
    """A project folder (and a copy of avo's source) the unprivileged user owns and can read."""
    base = Path(tempfile.mkdtemp(prefix="avo-e2e-"))
    base.chmod(0o755)
    for package in ("avo", "orchestrator", "sandbox"):
        shutil.copytree(REPO / package, base / "src" / package, ignore=shutil.ignore_patterns("__pycache__"))
    (base / "python").mkdir()
    project = base / "project"
    project.mkdir()
    (project / "scorer.py").write_text(SCORER)
    (project / "seed.py").write_text(SEED)
    if user is not None:
        for folder, dirs, files in os.walk(base):
            for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
                os.lchown(name, user.pw_uid, user.pw_gid)
    return project


def _shell_containers(client: docker.DockerClient, tenant: str) -> list[str]:
    found = client.api.containers(all=True, filters={"label": [f"avo.tenant={tenant}", "avo.purpose=shell"]})
    return [c["Id"] for c in found]


def test_hostile_permissions_and_a_killed_run_leave_nothing_behind(sandbox_image: str, docker_available,
                                                                   llm_server: ScriptedLLMServer) -> None:
    """As a host user without root's privileges: a candidate leaves its scoring folder
    unremovable and the agent makes the work tree read-only, then the run is SIGKILLed
    mid-command with the tree still hostile. `avo gc` keeps the live run's container; the
    resumed run (a new run id) removes it, restores the tree and commits again."""
    user = e2e_user()
    project = _unprivileged_project(user)
    tenant = f"h8a-e2e-{os.getpid()}"
    mount_dir = project.parent / "python"
    env = avo_env(project.parent / "src", HOME=str(project))
    try:
        llm_server.script(
            calls(("write_file", {"path": "solution.py", "content": TRAP}), ("evaluate", {})),
            calls(("run_shell", {"command": HOSTILE_TREE}), ("submit", {"rationale": "sleep less"})),
            call("run_shell", {"command": "chmod 444 solution.py && chmod 555 . && sleep 600"}),
            # the resumed run
            calls(("write_file", {"path": "solution.py", "content": FASTEST}), ("evaluate", {})),
            call("submit", {"rationale": "closed form"}))
        config = write_config(project, llm_server, max_versions=2, sandbox={"tenant": tenant})
        if user is not None:
            os.lchown(config, user.pw_uid, user.pw_gid)
        first = subprocess.Popen(as_user(user, avo_command(config), mount_dir), env=env, cwd=project,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            work = project / "workspace" / "work"
            deadline = time.monotonic() + 150
            while not (tool_events(project / "workspace", "submit") and _shell_containers(docker_available, tenant)
                       and (work / "solution.py").stat().st_mode & 0o777 == 0o444):
                assert first.poll() is None, first.stderr.read() if first.stderr else ""
                assert time.monotonic() < deadline, "the first run never reached its last command"
                time.sleep(0.2)
            owner = user.pw_uid if user is not None else os.getuid()
            assert (work / "solution.py").stat().st_uid == owner != 0  # the attack ran as that user
            [stale] = _shell_containers(docker_available, tenant)
            for flags in (["--tenant", tenant], []):  # neither form touches a live run's container
                swept = subprocess.run([sys.executable, "-m", "orchestrator", "gc", *flags], env=avo_env(),
                                       capture_output=True, text=True, timeout=60)
                assert swept.returncode == 0 and "kept" in swept.stdout, swept
                assert _shell_containers(docker_available, tenant) == [stale]
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert _shell_containers(docker_available, tenant) == [stale]  # a SIGKILL cleans nothing up

        resumed = subprocess.run(as_user(user, avo_command(config, "--resume"), mount_dir), env=env,
                                 cwd=project, capture_output=True, text=True, timeout=240)
        events = project / "workspace" / "events.jsonl"
        outcomes = [(e["kind"], e.get("reason") or e.get("message")) for e in read_events(events)
                    if e["kind"] in ("commit", "rejection", "evaluation", "restore_failed", "run_end")]
        assert resumed.returncode == 0, (resumed.stderr, outcomes, [r.body["messages"][-1] for r in llm_server.requests])
        assert _shell_containers(docker_available, tenant) == []
        assert versions(project / "workspace" / "lineage") == {"v0": SEED, "v1": TRAP, "v2": FASTEST}
        assert (project / "workspace" / "work" / "solution.py").read_text() == FASTEST
        assert [e["reason"] for e in read_events(events, "run_end")] == ["max_versions reached (v2)"]
        assert not list(read_events(events, "restore_failed"))
        assert all(e["passes"] for e in read_events(events, "evaluation"))
    finally:
        subprocess.run([sys.executable, "-m", "orchestrator", "gc", "--tenant", tenant, "--force"],
                       env=avo_env(), capture_output=True, timeout=60)
        subprocess.run(["chmod", "-R", "u+rwX", str(project.parent)], capture_output=True)
        shutil.rmtree(project.parent, ignore_errors=True)


# Item 9 -------------------------------------------------------------------------------------

def test_the_local_backend_scores_and_warns_on_every_call(tmp_path: Path, llm_server: ScriptedLLMServer) -> None:
    (tmp_path / "scorer.py").write_text(SCORER)
    (tmp_path / "seed.py").write_text(SEED)
    script: list[Reply] = [calls(("write_file", {"path": "solution.py", "content": FASTER}), ("evaluate", {})),
                           call("submit", {"rationale": "sleep less"})]
    llm_server.script(*script)
    config = write_config(tmp_path, llm_server, sandbox={"backend": "local"},
                          budget={"max_total_tokens": len(script) * TURN_TOKENS})
    done = subprocess.run(avo_command(config), env=avo_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert versions(tmp_path / "workspace" / "lineage") == {"v0": SEED, "v1": FASTER}
    evaluations = list(read_events(tmp_path / "workspace" / "events.jsonl", "evaluation"))
    assert [e["purpose"] for e in evaluations] == ["seed", "agent-evaluate", "rescore"]
    # every call warns: the scorer's configurations and context, then each evaluation
    assert done.stderr.count("WITHOUT isolation") == len(evaluations) + 2


# Item 8 -------------------------------------------------------------------------------------

def test_all_gpus_are_refused_unless_allowed(tmp_path: Path, llm_server: ScriptedLLMServer) -> None:
    (tmp_path / "scorer.py").write_text(SCORER)
    (tmp_path / "seed.py").write_text(SEED)
    refused = subprocess.run(avo_command(write_config(tmp_path, llm_server, sandbox={"gpus": "all"})),
                             env=avo_env(), capture_output=True, text=True, timeout=60)
    [line] = refused.stderr.splitlines()
    assert refused.returncode == 2 and "gpus: all exposes every GPU" in line and "allow_all_gpus: true" in line
    allowed = subprocess.run(
        avo_command(write_config(tmp_path, llm_server, sandbox={"gpus": "all", "allow_all_gpus": True})),
        env=avo_env(), capture_output=True, text=True, timeout=60)
    assert "allow_all_gpus" not in allowed.stderr  # past the policy: on to the host's GPU check
    cli = subprocess.run([sys.executable, "-m", "orchestrator", "sandbox", "exec", "--workspace", str(tmp_path),
                          "--gpus", "all", "--", "true"], env=avo_env(), capture_output=True, text=True, timeout=60)
    assert cli.returncode == 125 and "allow_all_gpus" in cli.stderr
    assert not llm_server.requests
