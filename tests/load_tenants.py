"""Many tenants at once through one broker (issue 17): well-behaved tenants running real
``avo run``s while another floods the broker, and a sampler checking the invariants.

Used by ``tests/broker/test_load.py`` (4 runners, CI) and ``bench/broker_load.py`` (8).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tenant_hosts import REPO, TEST_SRV, TestBroker, as_tenant, rule

sys.path.insert(0, str(REPO / "tests" / "agent"))  # the scripted server lives with the agent tests
from scripted_llm_server import Reply, ScriptedLLMServer  # noqa: E402

MiB = 2**20
#: What the sampler allows the broker to hold (docs/multi-tenant.md, "The host policy": the broker's bounds).
RSS_BOUND = 400 * MiB
FD_BOUND = 600
RULE = {"gpus": [0, 1], "max_gpus": 1, "max_containers": 3, "max_sessions": 4, "max_memory": "1g"}
LIMITS = {"send_deadline_s": 3, "frame_deadline_s": 3, "max_frame_bytes": 4 * MiB, "max_frame_bytes_per_user": 8 * MiB,
          "max_frame_bytes_total": 32 * MiB, "max_connections_per_user": 40, "max_connections": 400}
EXAMPLE = REPO / "examples" / "sorting_optimization"
MODEL = "scripted-model"
#: The tenant's provider key: only in its avo process's environment; the scripted server sees it arrive.
KEY = "sk-load-test"


def load_broker(name: str) -> TestBroker:
    return TestBroker(name=name, fake_gpu_host=True, limits=LIMITS, gpus=[
        {"index": 0, "uuid": "GPU-0a0a0a0a-load-0000"}, {"index": 1, "uuid": "GPU-1b1b1b1b-load-1111"}],
        tenants=[rule(workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"], **RULE)])


def first_step() -> list[Reply]:
    """The model's turns of the sorting example's first step (its replay transcript up to the
    first ``submit``): search the notes, write a broken insertion sort, evaluate, fix it, run it
    in the shell, evaluate, submit."""
    turns = yaml.safe_load((EXAMPLE / "replay.yaml").read_text())["turns"]
    replies = []
    for turn in turns:
        calls = [(call["name"], call.get("arguments") or {}) for call in turn["tool_calls"]]
        replies.append(Reply(text=turn.get("text", ""), tool_calls=calls))
        if any(name == "submit" for name, _ in calls):
            return replies
    raise ValueError(f"{EXAMPLE / 'replay.yaml'} has no submit")


@dataclass
class Runner:
    """One tenant running ``avo run`` back to back: its model is the scripted server (real
    ``openai`` SDK over loopback, the key in the tenant process's environment), its calls
    are real sandboxed calls through the broker."""

    user: str
    broker: TestBroker
    code: Path
    runs: list[dict[str, Any]] = field(default_factory=list)

    def loop(self, until: float) -> None:
        """Runs back to back; a run starts only while half a run (as long as the last) fits
        before ``until``, so the load ends near ``until`` rather than a whole run later."""
        while time.monotonic() < until - (self.runs[-1]["s"] / 2 if self.runs else 0):
            self.runs.append(self.once())

    def once(self) -> dict[str, Any]:
        folder = self.broker.workspace(self.user)
        for name in ("seed.py", "scorer.py"):
            shutil.copy(EXAMPLE / name, folder / name)
        script = first_step()
        with ScriptedLLMServer() as server:
            server.script(*script)
            (folder / "avo.yaml").write_text(yaml.safe_dump({
                "seed_file": "seed.py", "scoring_module": "scorer.py", "max_versions": 1,
                "llm": {"provider": "openai", "model": MODEL, "base_url": server.openai_base_url,
                        "prices": {MODEL: {"input_per_mtok": 1.0, "output_per_mtok": 1.0}}},
                "sandbox": {"backend": "broker", "broker_socket": self.broker.socket, "memory": "512m",
                            "timeout_s": 120, "pool_size": 0}}))
            subprocess.run(["chown", "-R", f"{self.user}:", str(folder)], check=True)
            started = time.monotonic()
            done = subprocess.run(as_tenant(self.user, ["-m", "orchestrator", "run", "avo.yaml"], self.code,
                                            env={"OPENAI_API_KEY": KEY}),
                                  capture_output=True, text=True, timeout=300, cwd=str(folder))
            keys = {request.headers.get("authorization") for request in server.requests}
            return {"user": self.user, "rc": done.returncode, "folder": str(folder), "s": time.monotonic() - started,
                    "model_turns": (len(server.requests), len(script)), "keys": keys,
                    "tail": (done.stdout + done.stderr)[-1500:]}


#: The scorer calls a run makes besides its evaluations: its evaluator asks once for the
#: benchmark configurations and once for the scoring context (both cached; sandbox_evaluator.py).
SCORER_SETUP_CALLS = 2


def logged_calls(folder: str) -> tuple[str | None, int]:
    """The run id and the number of sandbox calls the run made, from its run log: one per
    evaluation and per shell command, and the scorer's set-up calls."""
    run_id, calls = None, SCORER_SETUP_CALLS
    for line in (Path(folder) / "workspace" / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        run_id = event.get("run_id", run_id)
        if event.get("kind") == "evaluation" or (event.get("kind") == "agent_tool" and event.get("tool") == "run_shell"):
            calls += 1
    return run_id, calls


def flood(user: str, broker: TestBroker, code: Path, until: float) -> list[str]:
    """Connection floods, a client that never reads while it waits, oversized and half-sent
    frames, status floods: each a tenant process of ``user``, over and over until ``until``."""
    workspace = str(broker.workspace(user))
    attacks = [
        {"mode": "stall", "workspace": workspace, "policy": {"memory": "256m", "gpus": "count=1"}, "hold_until": 5.0},
        {"mode": "connections", "count": 60, "hold_until": 2.0},
        {"mode": "frames", "count": 3, "size": 6 * MiB, "hold_until": 1.0},
        {"mode": "frames", "count": 3, "size": 3 * MiB, "part": 0.5, "hold_until": 4.0},
        {"mode": "frames_raw", "bodies": ['{"kind": "status"}'], "repeat": 200},
    ]
    # The flooder holds its one GPU, so its stalled session's request waits (and gets a notice).
    holder = subprocess.Popen(as_tenant(user, [str(code / "tenant_call.py"), json.dumps({
        "socket": broker.socket, "workspace": workspace, "run_id": "flood-holder",
        "policy": {"memory": "256m", "gpus": "count=1"}, "hold_s": max(0.0, until - time.monotonic())})], code),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    seen: list[str] = []
    while time.monotonic() < until:
        for attack in attacks:
            if time.monotonic() >= until:
                break
            done = subprocess.run(as_tenant(user, [str(code / "tenant_attack.py"),
                                                   json.dumps({**attack, "socket": broker.socket})], code),
                                  capture_output=True, text=True, timeout=120, cwd="/")
            seen.append(f"{attack['mode']}:{done.returncode}")
    holder.wait(timeout=60)
    return seen


def broker_pid(broker: TestBroker) -> int:
    assert broker.process is not None
    return broker.process.pid


def under_load(workers: list[threading.Thread], broker: TestBroker, until: float) -> list[dict[str, Any]]:
    """Run ``workers`` to their end while the sampler watches ``broker``; what it sampled."""
    samples: list[dict[str, Any]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(broker, until + 600, samples, stop))
    for thread in [*workers, sampler]:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    sampler.join()
    return samples


def sample(broker: TestBroker, until: float, out: list[dict[str, Any]], stop: threading.Event) -> None:
    """Every 0.5 s: per-tenant sessions, containers and GPUs, the lease table, RSS and descriptors."""
    from sandbox.backends.broker import broker_request

    pid = broker_pid(broker)
    while time.monotonic() < until and not stop.is_set():
        status = broker_request(broker.socket, {"kind": "status"})["status"]
        rss = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:"))) * 1024
        out.append({"tenants": status["tenants"], "leases": status["load"]["leases"], "rss": rss,
                    "fds": len(os.listdir(f"/proc/{pid}/fd")), "connections": status["load"]["connections"]})
        time.sleep(0.5)


def violations(samples: list[dict[str, Any]]) -> list[str]:
    """Every sampled moment at which a tenant was over a limit or the broker over a bound."""
    found = []
    for moment in samples:
        for tenant in moment["tenants"]:
            if tenant["sessions"] > RULE["max_sessions"] or tenant["containers"] > RULE["max_containers"]:
                found.append(f"over a limit: {tenant}")
        per_tenant: dict[str, int] = {}
        for tenant, _group in moment["leases"].values():
            per_tenant[tenant] = per_tenant.get(tenant, 0) + 1
        found += [f"{t} holds {n} GPUs" for t, n in per_tenant.items() if n > RULE["max_gpus"]]
        if moment["rss"] > RSS_BOUND or moment["fds"] > FD_BOUND:
            found.append(f"broker over its bounds: rss {moment['rss'] / MiB:.0f} MiB, {moment['fds']} fds")
    return found
