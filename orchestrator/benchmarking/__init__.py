"""Scoring outside the evolution loop: ``avo eval`` (gate one solution) and ``avo rebench``
(re-measure a lineage), with the formats CI systems read.

Public API::

    from orchestrator.benchmarking import job_evaluator, run_eval, run_rebench, read_file, select_versions
    with job_evaluator(config, "eval") as evaluator:
        result = run_eval(config, evaluator, read_file(path), baseline=None, rounds=3, tolerance=0.05,
                          config_path="my.yaml")
    result.verdict, result.exit_code, result.model_dump_json()
"""

from .eval_job import ConfigurationVerdict, EvalResult, run_eval
from .measurement import ConfigurationStats, Measurement
from .rebench import RebenchedVersion, RebenchResult, run_rebench
from .rounds import job_evaluator, measure_interleaved
from .solutions import SolutionUnderTest, load_lineage, read_file, read_version, resolve, select_versions
from .verdict import EXIT_CODES, EXIT_ERROR, JobEnvironment, JobError, JobResult

__all__ = [
    "ConfigurationStats",
    "ConfigurationVerdict",
    "EXIT_CODES",
    "EXIT_ERROR",
    "EvalResult",
    "JobEnvironment",
    "JobError",
    "JobResult",
    "Measurement",
    "RebenchResult",
    "RebenchedVersion",
    "SolutionUnderTest",
    "job_evaluator",
    "load_lineage",
    "measure_interleaved",
    "read_file",
    "read_version",
    "resolve",
    "run_eval",
    "run_rebench",
    "select_versions",
]
