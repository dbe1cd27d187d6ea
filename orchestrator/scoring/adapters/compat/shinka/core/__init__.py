"""``run_shinka_eval`` as ShinkaEvolve evaluators call it, implemented by avo for its sandbox.

Same arguments, return value and files as ShinkaEvolve's helper: the program's
``experiment_fn_name`` runs ``num_runs`` times with ``get_experiment_kwargs(i)``
(default ``{"seed": i + 1}``); each result goes through ``validate_fn``; the results
through ``aggregate_metrics_fn``; ``metrics.json`` and ``correct.json`` are written to
``results_dir``; ``(metrics, correct, first_error)`` is returned.

What avo does differently, each for scoring integrity:
- the program runs in its own process (:class:`CandidateProcess`), so it cannot patch the
  evaluator, read its state or write its result; its return values cross back as plain
  data (numbers, strings, containers, NumPy arrays, tensors);
- execution times are measured in the evaluator's process, with a clock the program
  cannot reach;
- the outcome also goes to avo's adapter over a private descriptor, so a ``metrics.json``
  the program writes into ``results_dir`` itself is never believed.

Accepted and ignored: ``plotting_fn``, early stopping, ``run_workers`` and
``max_workers_cap`` (runs are sequential), ``verbose``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import statistics
from collections.abc import Callable
from typing import Any

from orchestrator.scoring.candidate_process import CandidateProcess

__all__ = ["run_shinka_eval"]

#: The descriptor of avo's private report channel, set by the adapter's bootstrap (never an
#: environment variable: a program the evaluator starts would inherit that).
REPORT_CHANNEL: int | None = None

DEFAULT_METRICS_ON_ERROR: dict[str, Any] = {
    "combined_score": 0.0,
    "execution_time_mean": 0.0,
    "execution_time_std": 0.0,
    "num_successful_runs": 0,
    "num_valid_runs": 0,
    "num_invalid_runs": 0,
    "all_validation_errors": [],
}


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars and arrays (``tolist``), text for anything else unknown."""
    converter = getattr(value, "tolist", None)
    return converter() if callable(converter) else str(value)


def _write_json(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, default=_plain)


def _report(metrics: dict[str, Any], correct: bool, error: str | None) -> None:
    """Hand the outcome to avo's adapter on its private descriptor, when it gave one (once)."""
    global REPORT_CHANNEL
    fd, REPORT_CHANNEL = REPORT_CHANNEL, None
    if fd is None:
        return
    payload = json.dumps({"metrics": metrics, "correct": correct, "error": error}, default=_plain)
    with os.fdopen(fd, "w", encoding="utf-8") as channel:
        channel.write(payload)


def run_shinka_eval(
    program_path: str,
    results_dir: str,
    experiment_fn_name: str,
    num_runs: int,
    get_experiment_kwargs: Callable[[int], dict[str, Any]] | None = None,
    aggregate_metrics_fn: Callable[[list[Any]], dict[str, Any]] | None = None,
    validate_fn: Callable[[Any], tuple[bool, str | None]] | None = None,
    plotting_fn: Callable[[Any], list[Any]] | None = None,
    default_metrics_on_error: dict[str, Any] | None = None,
    **_ignored: Any,
) -> tuple[dict[str, Any], bool, str | None]:
    """Run, validate and aggregate the program's experiment; write and return the outcome."""
    correct, first_error = True, None
    results: list[Any] = []
    seconds: list[float] = []
    problems: list[str] = []
    valid = invalid = 0
    try:
        with CandidateProcess(program_path) as candidate:
            for index in range(num_runs):
                kwargs = get_experiment_kwargs(index) if get_experiment_kwargs else {"seed": index + 1}
                timed = candidate.call(experiment_fn_name, **kwargs)
                results.append(timed.result)
                seconds.append(timed.seconds)
                if validate_fn is None:
                    continue
                ok, why = validate_fn(timed.result)
                if ok:
                    valid += 1
                    continue
                invalid += 1
                correct = False
                if why:
                    first_error = first_error or f"Validation failed: {why}"
                    if why not in problems:
                        problems.append(why)
        metrics = aggregate_metrics_fn(results) if aggregate_metrics_fn else {"num_successful_runs": len(results)}
        metrics["execution_time_mean"] = statistics.fmean(seconds) if seconds else 0.0
        metrics["execution_time_std"] = statistics.pstdev(seconds) if seconds else 0.0
        if validate_fn is not None:
            metrics.update(num_valid_runs=valid, num_invalid_runs=invalid, all_validation_errors=problems)
        score = metrics.get("combined_score")
        if isinstance(score, (int, float)) and not math.isfinite(score):
            correct = False
            first_error = first_error or f"combined_score is not finite ({score})"
    except Exception as exc:  # noqa: BLE001 - the candidate or the evaluator's functions may raise anything
        metrics = {**DEFAULT_METRICS_ON_ERROR, **(default_metrics_on_error or {})}
        if validate_fn is not None:
            metrics.update(num_valid_runs=0, num_invalid_runs=len(results) or num_runs, all_validation_errors=[str(exc)])
        correct, first_error = False, str(exc)
    os.makedirs(results_dir, exist_ok=True)
    if "extra_data" in metrics:
        with open(os.path.join(results_dir, "extra.pkl"), "wb") as handle:
            pickle.dump(metrics.pop("extra_data"), handle)
    _write_json(os.path.join(results_dir, "correct.json"), {"correct": correct, "error": first_error})
    _write_json(os.path.join(results_dir, "metrics.json"), metrics)
    _report(metrics, correct, first_error)
    return metrics, correct, first_error
