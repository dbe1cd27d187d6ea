"""A soak run: does a long `avo run` stay flat? Hundreds of steps of a real `avo run` process
against the scripted model server, scoring each candidate in the real sandbox with a scorer
that takes milliseconds, so what is measured is avo's own cost per step.

Not a timed test: run it by hand (`python bench/soak.py --steps 300`) on a quiet machine.
Prints, for the first and the last 50 steps: orchestrator overhead per step (the step's wall
time less its model replies, tool calls and re-score), the first prompt's size, open fds and
RSS of the avo process; then the time from `avo run --resume` to its first model request
and the time of `avo report`. Every ``--every``-th step commits a faster version, the others
are rejected as slower, so the lineage and the prompt's history grow as in a real run.

Measured on the 2-CPU CI-like machine (shared, runc), 300 steps, 30 versions: overhead 9.4 -> 8.5 ms
a step, first prompt 3.6k -> 4.7k chars, fds 35 -> 33 (max), RSS 103.5 -> 104.4 MB, resume 2.4 s,
report 3.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "agent"))
from scripted_llm_server import ScriptedLLMServer, call, calls  # noqa: E402

MODEL = "scripted-model"
WINDOW = 50
SCORER = '''
import re
from orchestrator.core.scoring import Score, ScoringFunction


class Scorer(ScoringFunction):
    """The candidate's declared SPEED on both configurations: milliseconds, no timing noise."""

    def get_configurations(self):
        return ["small", "large"]

    def get_scoring_context(self):
        return "SPEED = <float>; higher is better"

    def evaluate(self, source_code, source_file="solution.py"):
        speed = float(re.search(r"^SPEED = ([0-9.]+)$", source_code, re.M).group(1))
        return Score(values={"small": speed, "large": speed}, passes_correctness=True, correctness_message="ok")
'''


def candidate(step: int, speed: float) -> str:
    return f"# step {step}: a candidate\nSPEED = {speed:.6f}\n"


def script_steps(server: ScriptedLLMServer, first: int, last: int, every: int) -> int:
    """Script steps ``first..last``: every ``every``-th commits (10% faster), the rest are slower.
    Returns the number of commits scripted."""
    commits = 0
    for step in range(first, last + 1):
        improving = step % every == 0
        commits += improving
        speed = 1.1 ** (step // every) if improving else 0.5
        server.script(calls(("write_file", {"path": "solution.py", "content": candidate(step, speed)})),
                      call("submit", {"rationale": f"step {step}: {'faster' if improving else 'an idea that is slower'}"}))
    return commits


def write_project(root: Path, server: ScriptedLLMServer, max_versions: int) -> Path:
    (root / "seed.py").write_text(candidate(0, 1.0))
    (root / "scorer.py").write_text(SCORER)
    config = {"seed_file": "seed.py", "scoring_module": "scorer.py", "min_improvement": 0.05,
              "max_versions": max_versions, "max_steps_without_candidate": None,
              "llm": {"provider": "openai", "model": MODEL, "base_url": server.openai_base_url,
                      "prices": {MODEL: {"input_per_mtok": 1.0, "output_per_mtok": 1.0}}}}
    path = root / "avo.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Sampler(threading.Thread):
    """Samples the avo process's open fds and RSS, keyed by the step the model server is in."""

    def __init__(self, pid: int, server: ScriptedLLMServer) -> None:
        super().__init__(daemon=True)
        self.pid, self.server = pid, server
        self.samples: dict[int, list[tuple[int, float]]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            try:
                fds = len(os.listdir(f"/proc/{self.pid}/fd"))
                rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                              if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue
            step = len(self.server.requests) // 2 + 1
            self.samples.setdefault(step, []).append((fds, rss_kb / 1024))


def step_figures(events_path: Path) -> dict[int, dict[str, float]]:
    """Per step: wall seconds (to the next step's start), and the part spent in replies, tools and re-score."""
    starts: list[tuple[int, float]] = []
    outside: dict[int, float] = {}
    end = None
    step = 0
    with events_path.open() as log:
        for line in log:
            event = json.loads(line)
            at = datetime.fromisoformat(event["ts"]).timestamp()
            kind = event["kind"]
            if kind == "variation_start":
                step = event["step"]
                starts.append((step, at))
            elif kind == "agent_turn":
                outside[step] = outside.get(step, 0.0) + event["latency_s"]
            elif kind == "agent_tool":
                outside[step] = outside.get(step, 0.0) + event["duration_s"]
            elif kind == "evaluation" and event.get("purpose") == "rescore":
                outside[step] = outside.get(step, 0.0) + event["duration_s"]
            elif kind == "run_end" and step:
                end = at
                break
    figures = {}
    for (step, at), following in zip(starts, [s[1] for s in starts[1:]] + [end]):
        if following is not None:
            figures[step] = {"wall": following - at, "outside": outside.get(step, 0.0)}
    return figures


def first_prompt_chars(server: ScriptedLLMServer) -> list[int]:
    """The size of each step's first request's messages (every step makes two requests)."""
    return [len(json.dumps(request.body.get("messages", []))) for request in server.requests[::2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=10, help="every N-th step commits (default 10)")
    args = parser.parse_args()
    steps = args.steps - args.steps % args.every  # the last step commits, so max_versions ends the run there
    env = {name: value for name, value in os.environ.items() if not name.endswith("_API_KEY")}
    env.update({"OPENAI_API_KEY": "sk-soak", "PYTHONPATH": str(REPO)})
    with tempfile.TemporaryDirectory() as folder, ScriptedLLMServer() as server:
        root = Path(folder)
        commits = script_steps(server, 1, steps, args.every)
        config = write_project(root, server, commits)
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(config)], env=env, cwd=root,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler = Sampler(process.pid, server)
        sampler.start()
        status = process.wait()
        sampler.done.set()
        run_s = time.monotonic() - started
        if status != 0:
            sys.exit(f"avo run exited {status}: {process.stderr.read().decode()[-2000:]}")
        events = root / "workspace" / "events.jsonl"
        figures = step_figures(events)
        prompts = first_prompt_chars(server)

        # Resume: the time to the first model request of the resumed run.
        requests_before = len(server.requests)
        script_steps(server, steps + 1, steps + args.every, args.every)
        write_project(root, server, commits + 1)
        started = time.monotonic()
        resumed = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(config), "--resume"], env=env,
                                   cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while len(server.requests) == requests_before and resumed.poll() is None:
            time.sleep(0.005)
        resume_s = time.monotonic() - started
        if resumed.wait() != 0:
            sys.exit(f"avo run --resume exited {resumed.returncode}: {resumed.stderr.read().decode()[-2000:]}")

        started = time.monotonic()
        report = subprocess.run([sys.executable, "-m", "orchestrator", "report", str(config), "-o",
                                 str(root / "report.html")], env=env, capture_output=True, text=True)
        report_s = time.monotonic() - started
        if report.returncode != 0:
            sys.exit(f"avo report exited {report.returncode}: {report.stderr[-2000:]}")
        event_count = sum(1 for _ in events.open())

    def window(first: bool) -> range:
        return range(1, WINDOW + 1) if first else range(steps - WINDOW + 1, steps + 1)

    def overhead_ms(first: bool) -> float:
        return 1000 * statistics.median(figures[s]["wall"] - figures[s]["outside"] for s in window(first) if s in figures)

    def wall_ms(first: bool) -> float:
        return 1000 * statistics.median(figures[s]["wall"] for s in window(first) if s in figures)

    def sampled(first: bool, index: int) -> float:
        values = [sample[index] for s in window(first) for sample in sampler.samples.get(s, [])]
        return max(values) if values else float("nan")

    def prompt(first: bool) -> float:
        return statistics.median(prompts[s - 1] for s in window(first) if s - 1 < len(prompts))

    rows = [("orchestrator overhead, ms/step (median)", overhead_ms), ("step wall time, ms (median)", wall_ms),
            ("first prompt of a step, chars (median)", prompt),
            ("open fds of avo (max)", lambda first: sampled(first, 0)),
            ("RSS of avo, MB (max)", lambda first: sampled(first, 1))]
    print(f"soak: {steps} steps, {commits} committed versions, {event_count} run-log events, "
          f"run {run_s:.1f} s ({sys.platform}, {os.cpu_count()} CPUs)")
    print(f"| figure | first {WINDOW} steps | last {WINDOW} steps | last / first |")
    print("|---|---:|---:|---:|")
    for name, figure in rows:
        first, last = figure(True), figure(False)
        print(f"| {name} | {first:.1f} | {last:.1f} | {last / first:.2f} |")
    print(f"| resume: `avo run --resume` to its first model request, s | | {resume_s:.2f} | |")
    print(f"| `avo report`, s | | {report_s:.2f} | |")


if __name__ == "__main__":
    main()
