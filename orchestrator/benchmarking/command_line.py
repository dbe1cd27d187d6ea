"""``avo eval`` and ``avo rebench``: score solutions outside a run, for people and for CI.

``avo``'s CLI calls :func:`register` with its subparsers. Each command prints a
table, writes the CI formats asked for (``--json [PATH]``, stdout by default; ``--junit``, the GitHub step
summary and annotations) and exits with the verdict's status (0 ok, 1 incorrect,
3 regressed). When it cannot judge (no Docker, a missing file or version, a
broken scorer) it still writes the ``--json`` error record and an ``::error``
annotation, then ends like every avo error: one line, status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from orchestrator.config import EvolutionConfig
from orchestrator.errors import AvoError
from orchestrator.untrusted_text import plain
from orchestrator.json_option import add_json_option, json_to_stdout, write_json
from sandbox.errors import SandboxError

from . import ci_output, rebench_store
from .eval_job import EvalResult, run_eval
from .rebench import RebenchResult, run_rebench
from .rounds import job_evaluator
from .solutions import load_lineage, read_file, read_version, resolve, select_versions
from .terminal import eval_table, rebench_table
from .verdict import JobError

__all__ = ["register"]

console = Console()
notes = Console(stderr=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` and ``rebench`` to ``avo``'s subcommands."""
    evaluate = subparsers.add_parser(
        "eval", help="score one solution in fresh containers (no model); exit 0 ok, 1 incorrect, 3 regressed",
        description="Scores one solution R times in fresh containers: per-configuration mean ± std, the aggregate "
                    "and correctness. With --baseline, the baseline is measured in the same job, interleaved, and "
                    "their ratio decides. Exit status: 0 correct and not regressed, 1 incorrect, 3 regressed beyond "
                    "the tolerance, 2 usage or infrastructure error.")
    evaluate.add_argument("config", type=Path)
    which = evaluate.add_mutually_exclusive_group(required=True)
    which.add_argument("--file", type=Path, help="the solution file to score (e.g. the pull request's)")
    which.add_argument("--version", metavar="vN|best", help="a committed version of the lineage")
    evaluate.add_argument("--baseline", metavar="FILE|vN|best",
                          help="measure this too, interleaved, and judge the ratio (vN and best name versions)")
    _common_options(evaluate)
    evaluate.set_defaults(func=_reporting("avo-eval", _eval))

    rebench = subparsers.add_parser(
        "rebench", help="re-measure committed versions; flag recorded scores that do not reproduce",
        description="Re-scores committed versions in fresh containers and compares each with the score its commit "
                    "recorded. Flags every version outside the tolerance; exits 1 when the best version fails "
                    "correctness, 3 when it measures below its record beyond the tolerance. Results are stored in "
                    "<workspace>/rebench/ and shown by `avo lineage`.")
    rebench.add_argument("config", type=Path)
    rebench.add_argument("--versions", default="all", metavar="all|best|vN|vN..vM",
                         help="which versions (default all)")
    _common_options(rebench)
    rebench.set_defaults(func=_reporting("avo-rebench", _rebench))


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=_positive_int, default=3, help="fresh-container scores per solution (default 3)")
    parser.add_argument("--tolerance", type=_tolerance, default=0.05,
                        help="relative slowdown allowed before failing (default 0.05)")
    parser.add_argument("--workspace", type=Path,
                        help="the workspace whose lineage vN / best refer to (default: the config's workspace_dir)")
    add_json_option(parser)
    parser.add_argument("--junit", type=Path, metavar="OUT", help="write JUnit XML (one test case per configuration)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _tolerance(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("must be a fraction in [0, 1), e.g. 0.05 for 5%")
    return value


def _reporting(kind: str, job: Callable[[argparse.Namespace], EvalResult | RebenchResult]
               ) -> Callable[[argparse.Namespace], int]:
    """Run ``job`` and write every output asked for, the error record included when it cannot judge."""
    def run(args: argparse.Namespace) -> int:
        # With --json on stdout, stdout carries the document alone: the table and the workflow
        # commands (GitHub reads those from stderr too) go to stderr.
        shown, stream = (notes, sys.stderr) if json_to_stdout(args) else (console, sys.stdout)
        try:
            result = job(args)
        except (AvoError, SandboxError) as exc:
            summary = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if args.json is not None:
                write_json(args.json, JobError(kind=kind, summary=summary).model_dump_json(indent=1))
            ci_output.job_error(kind.replace("-", " "), summary, stream, junit=args.junit)
            raise
        shown.print(eval_table(result) if isinstance(result, EvalResult) else rebench_table(result))
        style = "green" if result.exit_code == 0 else "bold red"
        # One physical line whatever the width: the summary quotes the scorer's message, which may
        # quote the candidate, and a wrapped line starting with "::" is a GitHub workflow command.
        shown.print(f"[{style}]{escape(plain(result.summary))}[/]", soft_wrap=True)
        if args.json is not None:
            write_json(args.json, result.model_dump_json(indent=1))
        if args.junit is not None:
            ci_output.write_junit(args.junit, ci_output.junit_suites(result))
        ci_output.append_step_summary(ci_output.markdown(result))
        ci_output.annotations(result, stream, file=str(args.file) if getattr(args, "file", None) else None)
        return result.exit_code
    return run


def _eval(args: argparse.Namespace) -> EvalResult:
    config = _load(args)
    candidate = read_file(args.file, config.layout) if args.file else read_version(args.version, load_lineage(config))
    baseline = resolve(args.baseline, config) if args.baseline else None
    with job_evaluator(config, "eval") as evaluator:
        return run_eval(config, evaluator, candidate, baseline, rounds=args.rounds, tolerance=args.tolerance,
                        config_path=str(args.config), progress=_progress)


def _rebench(args: argparse.Namespace) -> RebenchResult:
    config = _load(args)
    lineage = load_lineage(config)
    chosen = select_versions(args.versions, lineage)
    with job_evaluator(config, "rebench") as evaluator:
        result = run_rebench(config, evaluator, lineage, chosen, rounds=args.rounds, tolerance=args.tolerance,
                             config_path=str(args.config), progress=_progress)
    stored = rebench_store.save(config, result)
    notes.print(f"stored {stored} (shown by `avo lineage`)", style="dim", highlight=False, markup=False)
    return result


def _load(args: argparse.Namespace) -> EvolutionConfig:
    config = EvolutionConfig.from_yaml(args.config)
    if args.workspace is not None:
        config = config.model_copy(update={"workspace_dir": args.workspace.resolve()})
    return config


def _progress(line: str) -> None:
    notes.print(line, style="dim", highlight=False, markup=False)

