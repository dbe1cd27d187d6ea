"""The hidden test split's side of scoring: what its calls see, and how its names are kept apart.

A hidden call runs the same scorer with ``AVO_SPLIT=hidden`` and the split's data
mounted read-only at ``/opt/avo/hidden``; a public call (the agent's own evaluations)
never has that mount, and the data is never staged with the scorer even when it sits
in the scorer's folder. Hidden configuration names are qualified (``hidden:...``)
so that a peer evaluator reporting ``combined_score`` in both splits yields two
configurations; the qualified names and their values stay host-side.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from orchestrator.config import EvolutionConfig
from orchestrator.scoring.score import HIDDEN_DIR_VARIABLE, SPLIT_VARIABLE, Score
from sandbox import ReadOnlyMount, SandboxPolicy

__all__ = ["HIDDEN_MOUNT", "HIDDEN_PREFIX", "Split", "hidden_data_dir", "qualified", "split_policy", "unqualified"]

HIDDEN_MOUNT = "/opt/avo/hidden"
HIDDEN_PREFIX = "hidden:"

Split = Literal["public", "hidden"]


def split_policy(config: EvolutionConfig, policy: SandboxPolicy, split: Split, *, local: bool = False) -> SandboxPolicy:
    """``policy`` (the scoring policy) for one split. Public calls get it unchanged: the
    hidden data is never staged with the scorer (see ``orchestrator.scoring.staging``), so it is not there
    to mask. Hidden calls get the data read-only at :data:`HIDDEN_MOUNT` (``local``: its host path)."""
    if split == "public":
        return policy
    data = hidden_data_dir(config)
    mounts = [ReadOnlyMount(host=data, container=HIDDEN_MOUNT)] if data is not None and not local else []
    where = str(data) if local and data is not None else HIDDEN_MOUNT
    env = {**policy.env, SPLIT_VARIABLE: "hidden", HIDDEN_DIR_VARIABLE: where}
    return policy.with_mounts(*mounts).model_copy(update={"env": env})


def hidden_data_dir(config: EvolutionConfig) -> Path | None:
    """The hidden split's data folder, resolved; None when there is none."""
    hidden = config.scoring.hidden
    return hidden.data_dir.resolve() if hidden is not None and hidden.data_dir is not None else None


def qualified(score: Score) -> Score:
    """A hidden call's score with its configuration names qualified."""
    return score.model_copy(update={"values": {HIDDEN_PREFIX + name: value for name, value in score.values.items()}})


def unqualified(values: Mapping[str, float]) -> dict[str, float]:
    """Hidden values under the names the scorer itself uses."""
    return {name.removeprefix(HIDDEN_PREFIX): value for name, value in values.items()}

