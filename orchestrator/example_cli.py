"""The command line every example's ``run.py`` shares: load the example's config, pick the provider, run.

``python examples/<example>/run.py [--replay] [--workspace DIR] [--resume]``.
Without an API key for the configured provider it explains how to set one and
points at ``--replay``, which plays the example's bundled transcript
(``replay.yaml``) without any network, so the whole loop can be watched anywhere.

It lives in the installed package, not beside the examples, so that an example
folder copied anywhere (how users start their own problem) still runs; errors end
as ``avo run``'s do: one line naming the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orchestrator.cli import report_errors
from orchestrator.config import EvolutionConfig


def parse_args(example_dir: Path, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python {Path(os.path.relpath(example_dir / 'run.py'))}",
        description=f"Run the {example_dir.name} example of avo with the provider in its config.yaml.",
    )
    parser.add_argument(
        "--replay", action="store_true", help="play the bundled replay transcript (replay.yaml): no API key, no network"
    )
    parser.add_argument("--workspace", type=Path, help="workspace folder (default: workspace_dir of config.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue the run found in the workspace")
    return parser.parse_args(argv)


def load_config(example_dir: Path, args: argparse.Namespace) -> EvolutionConfig:
    """The example's config with the command line's overrides applied."""
    config = EvolutionConfig.from_yaml(example_dir / "config.yaml")
    if args.workspace is not None:
        config = config.model_copy(update={"workspace_dir": args.workspace.expanduser().resolve()})
    return config.with_replay(example_dir / "replay.yaml") if args.replay else config


def missing_key_message(config: EvolutionConfig, example_dir: Path) -> str | None:
    """How to provide the API key the configured provider needs, or None when it has one."""
    variable = config.llm.key_env_var
    if config.llm.api_key or variable is None or os.environ.get(variable):
        return None
    run = Path(os.path.relpath(example_dir / "run.py"))
    return (
        f"No API key for llm.provider '{config.llm.provider}' (model {config.llm.model}).\n"
        f"  Set one:   export {variable}=...   then   python {run}\n"
        f"  (or set llm.api_key / llm.provider in {Path(os.path.relpath(example_dir / 'config.yaml'))})\n"
        f"  Or watch the whole loop without a key or network, from the bundled replay transcript:\n"
        f"             python {run} --replay"
    )


def main(example_dir: Path, argv: list[str] | None = None) -> int:
    """Run the example in ``example_dir``; returns the process exit code."""
    args = parse_args(example_dir, argv)
    return report_errors(lambda: _run(example_dir, args))


def _run(example_dir: Path, args: argparse.Namespace) -> int:
    from rich.console import Console

    from orchestrator.core.parallel_agents import open_runner  # the runner pulls in docker and the agent
    from orchestrator.run_view import RunView

    config = load_config(example_dir, args)
    problem = missing_key_message(config, example_dir)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.replay:
        print(f"REPLAY: playing {config.llm.replay_file} (prepared model turns; scores are real, from the sandbox)")
    with RunView(config.run_log_path, Console()):
        results = open_runner(config, resume=args.resume).run()
    print(
        f"{results.stop_reason}: best v{results.best_version}, aggregate {results.best_aggregate:.6g} "
        f"({results.improvement_pct:+.1f}% over the seed), {results.committed_this_run} committed and "
        f"{results.failures} rejected in {results.steps} steps; lineage in {config.lineage_dir}"
    )
    print(results.model_dump_json(indent=2))
    return 0
