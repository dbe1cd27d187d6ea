"""Scoring in the sandbox: the host never imports the user's scorer or runs a candidate.

Each call writes the candidate alone into a scoring folder that holds nothing
else (so no other call's or the agent's files are visible), runs the call harness
in a fresh container with the staged scorer (the module and its declared files
only, see :mod:`orchestrator.scoring.staging`), the ``orchestrator`` package and
the harness mounted read-only, and reads back one nonce-framed JSON reply. Every
way a candidate can go wrong (crash, timeout, OOM, garbage output, a fake result,
a scoring folder it left unremovable) becomes a failed :class:`Score` with the
reason; only a broken scorer raises.

With ``sandbox.backend: local`` (no isolation, development only: the backend warns
on every call) the same harness runs as a host subprocess on the same staged files.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import avo
import orchestrator
from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.score import PREVIOUS_BEST_VARIABLE, SOLUTION_DIR_VARIABLE, Score
from orchestrator.core.solution_layout import Candidate, write_candidate
from orchestrator.core.workspace_files import clear_dir
from orchestrator.errors import ScorerError
from orchestrator.scoring.hidden_split import HIDDEN_PREFIX, Split, qualified, split_policy, unqualified
from orchestrator.scoring.failure import missing_file_fix, scorer_crash, scorer_frame
from orchestrator.scoring.interface import harness_target
from orchestrator.scoring.staging import stage_scorer, unstage
from sandbox import HARNESS_DIR, AgentShare, ExecResult, ReadOnlyMount, Sandbox, SandboxPolicy
from sandbox.problem_image import ProblemImage

__all__ = ["SandboxEvaluator", "ScoringLayout", "scoring_layout", "unframe"]

SCORER_DIR = "/opt/avo/scorer"
LIB_DIR = "/opt/avo/lib"
HARNESS_MOUNT = "/opt/avo/harness"
#: -I: no PYTHONPATH, user site or working directory on the harness's path, so nothing of the workspace runs at its
#: start-up (it holds the nonce); its scorer process is started the same way. -B: nothing written next to the scorer.
HARNESS_FLAGS = ["-I", "-B"]
_STDERR_TAIL = 1500


class _CallFailed(Exception):
    """A harness call produced no usable reply; the message says why, ``result`` what the sandbox saw."""

    def __init__(self, message: str, result: ExecResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ScoringLayout:
    """Where a scoring call finds the scorer, the ``orchestrator`` and ``avo`` packages and the harness,
    as the call sees them, and the policy that makes them visible there."""

    policy: SandboxPolicy
    scorer_dir: str
    lib_dir: str
    command: list[str]


def scoring_layout(config: EvolutionConfig, staged: Path, split: Split = "public") -> ScoringLayout:
    """Container paths and read-only mounts (docker), or the host paths themselves (local), for
    one split; a problem image (``sandbox.packages``) is looked up, never built, here."""
    library = Path(orchestrator.__file__).parent.resolve()
    public = Path(avo.__file__).parent.resolve()  # `from avo.core.scoring import ...` in scorers
    # the runner resolved it already (packages cleared, so this is a no-op); avo eval and rebench have not
    policy = ProblemImage(config.sandbox).resolve(build=False)
    if policy.backend == "local":
        return ScoringLayout(split_policy(config, policy, split, local=True), str(staged), str(library.parent),
                             [sys.executable, *HARNESS_FLAGS, str(HARNESS_DIR.resolve() / "call_harness.py")])
    policy = policy.with_mounts(
        ReadOnlyMount(host=staged, container=SCORER_DIR),
        ReadOnlyMount(host=library, container=f"{LIB_DIR}/orchestrator"),
        ReadOnlyMount(host=public, container=f"{LIB_DIR}/avo"),
        ReadOnlyMount(host=HARNESS_DIR.resolve(), container=HARNESS_MOUNT),
    )
    return ScoringLayout(split_policy(config, policy, split), SCORER_DIR, LIB_DIR,
                         ["python3", *HARNESS_FLAGS, f"{HARNESS_MOUNT}/call_harness.py"])


def unframe(stdout: str, nonce: str) -> dict[str, Any] | None:
    """The JSON object between the two nonces, or None when there is no genuine frame."""
    start = stdout.find(nonce)
    end = stdout.find(nonce, start + len(nonce)) if start >= 0 else -1
    if end < 0:
        return None
    try:
        reply = json.loads(stdout[start + len(nonce):end])
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def _headline(detail: str) -> str:
    """The line that says what happened (a traceback's last line), for one-line messages."""
    lines = [line for line in detail.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no detail"


def _failure_reason(result: ExecResult, policy: SandboxPolicy) -> str:
    if result.timed_out:
        return f"timed out after {policy.timeout_s:g}s (sandbox.timeout_s)"
    if result.oom_killed:
        return f"out of memory (sandbox.memory={policy.memory})"
    tail = result.stderr[-_STDERR_TAIL:].strip()
    return f"exit code {result.exit_code}, no result from the harness" + (f"; stderr tail:\n{tail}" if tail else "")


class SandboxEvaluator:
    """``core.interfaces.Evaluator`` backed by fresh sandbox containers (purpose ``score``).

    ``split="hidden"`` scores the hidden split (``scoring.hidden``): its calls see the hidden
    data and report qualified configuration names; the runner alone holds such an evaluator.
    """

    def __init__(self, config: EvolutionConfig, run_id: str, run_log: RunLog, split: Split = "public", *,
                 agent: int | None = None, share: AgentShare = AgentShare()) -> None:
        """``agent`` (a run with several): its own staging and scratch folders, so closing one
        agent's evaluator never removes another's; ``share`` is that agent's slice of the resources."""
        self._config = config
        self._run_log = run_log
        self._split = split
        owner = "" if agent is None else f"agent{agent}-"
        self._staged: Path | None = stage_scorer(config, run_id, f"{owner}{split}")
        try:
            self._layout = scoring_layout(config, self._staged, split)
            self._policy = self._layout.policy
            scratch = ("scoring" if split == "public" else "scoring-hidden") + ("" if agent is None else f"-agent{agent}")
            self._scratch = (config.workspace_dir / scratch).resolve()
            self._scratch.mkdir(parents=True, exist_ok=True)
            self._sandbox = Sandbox(self._policy, workspace=self._scratch, run_id=run_id,
                                    purpose="score" if split == "public" else "score-hidden", on_event=run_log.sink,
                                    share=share)
        except BaseException:
            unstage(self._staged)
            raise
        self._lock = threading.Lock()
        self._configurations: list[str] | None = None
        self._context: str | None = None

    def evaluate(self, source_code: str, *, purpose: str = "evaluate",
                 previous_best: Mapping[str, float] | None = None,
                 files: Mapping[str, str] | None = None) -> Score:
        """Score ``source_code`` (a directory solution: the entry file of ``files``) in a fresh container
        with a fresh seed; never raises for a bad candidate."""
        configurations = self.configurations()
        seed = secrets.randbits(32)
        started = time.monotonic()
        layout = self._config.layout
        kwargs = {"source_code": source_code, "source_file": layout.entry_path}
        if previous_best and self._split == "hidden":
            previous_best = unqualified(previous_best)
        environment = {PREVIOUS_BEST_VARIABLE: json.dumps(dict(previous_best))} if previous_best else {}
        if layout.directory is not None:
            environment[SOLUTION_DIR_VARIABLE] = f"{self._policy.workdir}/{layout.directory}"
        sandbox: ExecResult | None = None
        try:
            candidate = Candidate(source_code, dict(files or {}))
            score = Score.model_validate(self._call("evaluate", kwargs, seed, candidate, environment))
            score = qualified(score) if self._split == "hidden" else score
        except _CallFailed as exc:
            sandbox = exc.result
            score = Score.failure(f"evaluation failed: {self._blame(str(exc))}", error=str(exc))
        except ValidationError as exc:
            score = Score.failure(f"the scorer returned an invalid Score: {exc.errors()[0]['msg']}")
        duration = time.monotonic() - started
        if score.duration_s is None:
            score = score.model_copy(update={"duration_s": round(duration, 3)})
        self._run_log.emit(
            "evaluation", purpose=purpose, aggregate=score.aggregate(configurations),
            passes=score.passes_correctness, duration_s=round(duration, 3), seed=seed,
            failed_configurations=score.failed_configurations(configurations) if score.passes_correctness else [],
            message=(score.error or score.correctness_message)[:500],
            **({"plausibility": score.artifacts["plausibility"]} if "plausibility" in score.artifacts else {}),
            **({"split": "hidden"} if self._split == "hidden" else {}),
            timed_out=bool(sandbox and sandbox.timed_out), oom_killed=bool(sandbox and sandbox.oom_killed),
            exit_code=sandbox.exit_code if sandbox else 0,
        )
        return score

    def configurations(self) -> list[str]:
        """The scorer's benchmark configurations, fetched once in the sandbox."""
        if self._configurations is None:
            names = self._scorer_call("get_configurations")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise ScorerError(f"{self._where()}: get_configurations() must return a non-empty list of "
                                  f"names{' in a hidden call (AVO_SPLIT=hidden)' if self._split == 'hidden' else ''}, "
                                  f"got {names!r}")
            self._configurations = [HIDDEN_PREFIX + n for n in names] if self._split == "hidden" else names
        return list(self._configurations)

    def scoring_context(self) -> str:
        """The scorer's description for the agent, fetched once in the sandbox."""
        if self._context is None:
            text = self._scorer_call("get_scoring_context")
            parts = [text if isinstance(text, str) else "", self._config.scoring.context]
            self._context = "\n".join(part.strip() for part in parts if part.strip())
        return self._context

    def close(self) -> None:
        """Remove the scoring containers and the staged scorer; safe to call twice."""
        self._sandbox.close()
        staged, self._staged = self._staged, None
        if staged is not None:
            unstage(staged)

    def _where(self) -> str:
        if self._config.scoring.interface != "avo":
            return f"{self._config.scoring_module} ({self._config.scoring.interface} evaluator)"
        return f"{self._config.scoring_module}:{self._config.scoring_class}"

    def _scorer_call(self, method: str) -> Any:
        """A call that involves no candidate: any failure means the scorer itself is broken."""
        try:
            return self._call(method, {}, secrets.randbits(32), None)
        except _CallFailed as exc:
            detail, headline = str(exc), _headline(str(exc))
            frame = scorer_frame(detail, self._layout.scorer_dir, self._libraries())
            if frame is not None:  # no candidate is involved: the scorer's frame and the fix
                headline += f" at {frame}; {missing_file_fix(headline, self._layout.scorer_dir, self._host_scorer_dir())}"
            raise ScorerError(f"{self._where()}.{method}() failed in the sandbox: {headline}\n{detail}") from None

    def _blame(self, detail: str) -> str:
        """The one-line reason of a failed evaluation: a scorer crash with its frame (and the fix),
        or the candidate's error."""
        return scorer_crash(detail, self._layout.scorer_dir, self._libraries(), self._host_scorer_dir(),
                            _headline(detail)) or _headline(detail)

    def _libraries(self) -> tuple[str, ...]:
        """avo's package and the harness, as the call sees them: never the user's frames."""
        return f"{self._layout.lib_dir}/orchestrator", self._layout.command[-1].rsplit("/", 1)[0]

    def _host_scorer_dir(self) -> Path:
        return self._config.scoring_module.resolve().parent

    def _call(self, method: str, kwargs: dict[str, Any], seed: int, candidate: Candidate | None,
              environment: dict[str, str] | None = None) -> Any:
        nonce = secrets.token_hex(16)
        layout = self._layout
        request = {
            **harness_target(self._config, layout.scorer_dir, layout.lib_dir),
            "method": method,
            "kwargs": kwargs,
            "seed": seed,
            "nonce": nonce,
            "environment": environment or {},
        }
        with self._lock:
            self._reset_scratch(candidate)
            result = self._sandbox.exec(layout.command, stdin=json.dumps(request).encode())
        reply = unframe(result.stdout, nonce) if result.ok else None
        if reply is None:
            raise _CallFailed(_failure_reason(result, self._policy), result)
        if "harness_error" in reply:
            raise _CallFailed(str(reply["harness_error"]).strip(), result)
        return reply.get("result")

    def _reset_scratch(self, candidate: Candidate | None) -> None:
        """Empty the scoring folder (kept, since a warm container has it mounted) and write
        the candidate alone into it. The host user can always remove what the sandbox left
        (it runs as the host user's uid, or the host user is root); if that ever fails the
        call fails, never the run."""
        try:
            clear_dir(self._scratch)
        except OSError as exc:
            raise _CallFailed(f"the scoring folder {self._scratch} could not be emptied ({exc}); "
                              "remove what is left there by hand") from None
        if candidate is not None:
            write_candidate(self._scratch, self._config.layout, candidate)
