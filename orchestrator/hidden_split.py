"""The hidden test split's side of scoring: what its calls see, and how its names are kept apart.

A hidden call runs the same scorer with ``AVO_SPLIT=hidden`` and the split's data
mounted read-only at ``/opt/avo/hidden``; a public call (the agent's own evaluations)
never has that mount, and when the data sits inside the scorer's folder an empty
folder is mounted over it. Hidden configuration names are qualified (``hidden:...``)
so that a peer evaluator reporting ``combined_score`` in both splits yields two
configurations; the qualified names and their values stay host-side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from orchestrator.config import EvolutionConfig
from orchestrator.core.scoring import HIDDEN_DIR_VARIABLE, SPLIT_VARIABLE, Score
from sandbox import ReadOnlyMount, SandboxPolicy

__all__ = ["HIDDEN_MOUNT", "HIDDEN_PREFIX", "Split", "qualified", "split_policy", "unqualified"]

HIDDEN_MOUNT = "/opt/avo/hidden"
HIDDEN_PREFIX = "hidden:"

Split = Literal["public", "hidden"]


def split_policy(config: EvolutionConfig, policy: SandboxPolicy, split: Split, scorer_dir: str) -> SandboxPolicy:
    """``policy`` (the scoring policy, the scorer's folder mounted at ``scorer_dir``) for one split."""
    hidden = config.scoring.hidden
    data = hidden.data_dir.resolve() if hidden is not None and hidden.data_dir is not None else None
    if split == "hidden":
        mounts = [ReadOnlyMount(host=data, container=HIDDEN_MOUNT)] if data is not None else []
        env = {**policy.env, SPLIT_VARIABLE: "hidden", HIDDEN_DIR_VARIABLE: HIDDEN_MOUNT}
        return policy.with_mounts(*mounts).model_copy(update={"env": env})
    folder = config.scoring_module.parent.resolve()
    if data is None or not data.is_relative_to(folder):
        return policy
    mask = (config.workspace_dir / "empty").resolve()
    mask.mkdir(parents=True, exist_ok=True)
    return policy.with_mounts(ReadOnlyMount(host=mask, container=f"{scorer_dir}/{data.relative_to(folder).as_posix()}"))


def qualified(score: Score) -> Score:
    """A hidden call's score with its configuration names qualified."""
    return score.model_copy(update={"values": {HIDDEN_PREFIX + name: value for name, value in score.values.items()}})


def unqualified(values: Mapping[str, float]) -> dict[str, float]:
    """Hidden values under the names the scorer itself uses."""
    return {name.removeprefix(HIDDEN_PREFIX): value for name, value in values.items()}

