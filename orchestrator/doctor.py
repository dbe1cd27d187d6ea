"""``avo doctor CONFIG``'s checks of the run itself: the model endpoint, the scorer and the seed.

The sandbox's own checks (daemon, image, GPUs, broker, Slurm) live in :mod:`sandbox.doctor`.
Each finding is one :class:`DoctorCheck` whose ``fix`` names what to change, so a wrong
``llm.base_url`` or a renamed scorer class is found here, not minutes into a run.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from orchestrator.config import EvolutionConfig
from orchestrator.errors import AvoError
from sandbox.doctor_check import DoctorCheck
from sandbox.errors import SandboxError

__all__ = ["llm_checks", "misnamed_scoring_class", "scorer_checks", "scoring_classes"]


def llm_checks(config: EvolutionConfig) -> list[DoctorCheck]:
    """The key (never printed), then one request to the endpoint's model list."""
    from orchestrator.agent.factory import build_client
    from orchestrator.agent.llm_client import SdkClient

    llm = config.llm
    variable = llm.key_env_var
    if llm.provider == "replay":
        return [DoctorCheck(name="llm", ok=True, detail=f"replay of {llm.replay_file}: no model is called")]
    if not llm.api_key and variable is not None and not os.environ.get(variable):
        return [DoctorCheck(name="llm key", ok=False, detail=f"{llm.provider}: {variable} not set",
                            fix=f"export {variable}=... or set llm.api_key: ${{{variable}}}")]
    source = "api_key set in the config" if llm.api_key else f"{variable} set" if variable else "no key needed"
    checks = [DoctorCheck(name="llm key", ok=True, detail=f"{llm.provider}: {source}")]
    client = build_client(llm)
    if isinstance(client, SdkClient):
        try:
            url = client.probe()
        except AvoError as exc:
            checks.append(DoctorCheck(name="llm endpoint", ok=False, detail=str(exc).split(": check ")[0],
                                      fix=_fix_of(str(exc), "check llm.base_url")))
        else:
            checks.append(DoctorCheck(name="llm endpoint", ok=True, detail=f"{url} answers"))
    return checks


def scorer_checks(config: EvolutionConfig) -> list[DoctorCheck]:
    """Import the scorer in a sandbox call (every backend), then score the seed once where that
    queues no job: under Slurm a scoring call waits for an allocation, so the seed is left to the run."""
    from orchestrator.benchmarking.rounds import job_evaluator

    where = f"{config.scoring_module.name}:{config.scoring_class}" if config.scoring.interface == "avo" \
        else f"{config.scoring_module.name} ({config.scoring.interface})"
    checks: list[DoctorCheck] = []
    try:
        with job_evaluator(config, "doctor") as evaluator:
            names = evaluator.configurations()
            checks.append(DoctorCheck(name="scorer", ok=True,
                                      detail=f"{where} imports in the sandbox; configurations: {', '.join(names)}"))
            if config.sandbox.backend == "slurm":
                checks.append(DoctorCheck(name="seed", ok=True, warning=True,
                                          detail="not scored here: under Slurm it would queue a job",
                                          fix="the run scores it first"))
                return checks
            seed = config.layout.seed(config.seed_file)
            score = evaluator.evaluate(seed.source, purpose="doctor", files=seed.files or None)
    except (AvoError, SandboxError) as exc:
        headline = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [*checks, DoctorCheck(name="scorer" if not checks else "seed", ok=False, detail=headline,
                                     fix=_scorer_fix(config))]
    if not score.passes_correctness:
        reason = (score.error or score.correctness_message or "fails correctness").strip().splitlines()[0]
        return [*checks, DoctorCheck(name="seed", ok=False, detail=f"{config.seed_file.name}: {reason}",
                                     fix="fix the seed (seed_file) or the scorer")]
    aggregate = score.aggregate(names)
    return [*checks, DoctorCheck(name="seed", ok=True, detail=f"{config.seed_file.name} passes; aggregate {aggregate:.6g}")]


def scoring_classes(module: Path) -> list[str]:
    """The ``ScoringFunction`` subclasses ``module`` defines, read from its syntax tree: the host
    never imports a scorer."""
    try:
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "") for base in node.bases]
            if "ScoringFunction" in bases:
                found.append(node.name)
    return found


def misnamed_scoring_class(config: EvolutionConfig) -> str | None:
    """The fix when ``scoring_class`` is surely absent from the scorer: nothing in it binds that
    name (and no ``import *`` could) while a ``ScoringFunction`` subclass is there. Read from
    the syntax tree, so ``avo run`` says it before a container starts; None when in doubt."""
    if config.scoring.interface != "avo":
        return None
    try:
        tree = ast.parse(config.scoring_module.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    bound: set[str] = set()
    for node in ast.walk(tree):  # every binding anywhere: generous, so only a sure miss is reported
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return None
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    classes = scoring_classes(config.scoring_module)
    if config.scoring_class in bound or not classes:
        return None
    return (f"scoring_class {config.scoring_class!r} is not defined in {config.scoring_module.name}: "
            f"set scoring_class: {classes[0]} (its ScoringFunction subclass)")


def _scorer_fix(config: EvolutionConfig) -> str:
    """A renamed class gets the name to put in the config; anything else points at the scorer."""
    if config.scoring.interface == "avo":
        classes = scoring_classes(config.scoring_module)
        if classes and config.scoring_class not in classes:
            return f"set scoring_class: {classes[0]} (the ScoringFunction subclass in {config.scoring_module.name})"
    return f"fix {config.scoring_module.name} or the sandbox fault named in the detail, then rerun `avo doctor`"


def _fix_of(message: str, default: str) -> str:
    """The "check ..." part of a probe's message, which names what to change."""
    return "check " + message.split(": check ", 1)[1] if ": check " in message else default
