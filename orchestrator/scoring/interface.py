"""What the call harness instantiates in the sandbox for each ``scoring.interface``.

``avo``: the user's ``ScoringFunction`` subclass itself. ``openevolve`` and ``shinka``:
avo's adapter over the user's evaluator, from the read-only library mount, with the
compatible ``openevolve``/``shinka`` stand-ins searched after site-packages (so a real
package installed in the image wins). The host only names files here; it never
imports the scorer or the evaluator.
"""

from __future__ import annotations

from typing import Any

from orchestrator.config import EvolutionConfig

__all__ = ["harness_target"]

_ADAPTERS = {
    "openevolve": ("openevolve_scorer.py", "OpenEvolveScorer", "evaluator_file"),
    "shinka": ("shinka_scorer.py", "ShinkaScorer", "evaluate_file"),
}


def harness_target(config: EvolutionConfig, scorer_dir: str, lib_dir: str) -> dict[str, Any]:
    """The request fields naming the scoring class: ``sys_path``, ``module_file``, ``class_name``,
    and for the peers ``init_kwargs`` and ``sys_path_after``."""
    module_file = f"{scorer_dir}/{config.scoring_module.name}"
    scoring = config.scoring
    if scoring.interface == "avo":
        return {"sys_path": [lib_dir, scorer_dir], "module_file": module_file, "class_name": config.scoring_class}
    adapters = f"{lib_dir}/orchestrator/scoring/adapters"
    file_name, class_name, evaluator_argument = _ADAPTERS[scoring.interface]
    init_kwargs: dict[str, Any] = {evaluator_argument: module_file, "metrics": scoring.metrics.model_dump()}
    if scoring.interface == "openevolve":
        init_kwargs.update(cascade=scoring.cascade, cascade_thresholds=scoring.cascade_thresholds)
    return {"sys_path": [lib_dir], "sys_path_after": [f"{adapters}/compat"],
            "module_file": f"{adapters}/{file_name}", "class_name": class_name, "init_kwargs": init_kwargs}
