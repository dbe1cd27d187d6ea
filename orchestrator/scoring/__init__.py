"""Scoring: where a score is made and guarded, in one package.

::

    orchestrator/scoring/
      score.py             Score and ScoringFunction, the contract a scorer implements (published as
                           orchestrator.core.scoring); previous_best(), solution_dir(), hidden_data_dir()
      staging.py           the scorer's module and declared files copied read-only for the sandbox
      hidden_split.py      the hidden test split: its data mount, qualified names, the policy per split
      interface.py         what the call harness instantiates for scoring.interface (avo, openevolve, shinka)
      sandbox_evaluator.py SandboxEvaluator: one fresh container per call, the nonce-framed reply
      failure.py           a scorer crash told apart from a candidate failing, with the scorer's frame
      candidate_process.py CandidateProcess: the candidate in its own process, timed from the scorer's
      candidate_worker.py  the worker that process runs (stdlib only)
      kernel_checks.py     input/output checks and timing for kernel scorers
      adapters/            OpenEvolve and ShinkaEvolve evaluators as ScoringFunctions, and the
                           compatible openevolve/shinka stand-ins (adapters/compat)

The whole ``orchestrator`` package is mounted read-only at /opt/avo/lib/orchestrator in every
scoring container (the broker supplies the installed package at the same path), so these
modules are imported in the sandbox too: this file imports nothing, and score.py,
candidate_process.py, candidate_worker.py, kernel_checks.py and adapters/ only the standard
library, pydantic and what a scorer brings. The call harness itself is sandbox/harness.
"""
