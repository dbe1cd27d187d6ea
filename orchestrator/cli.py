"""``avo``: init | run | status | lineage | doctor | completion, the sandbox's sandbox exec | gc | image,
eval | rebench, and report | export.

Exit statuses, one scheme for every command (docs/running.md, "Exit codes"): 0 done (a graceful
Ctrl-C stop of a run included); 1 a check found a problem (``doctor``; ``eval`` and
``rebench``: incorrect); 2 a user or config error, one red line naming the fix; 3
``eval``/``rebench``: slower than the tolerance; ``sandbox exec`` relays its command's
status (124 timeout, 137 OOM kill) and 125 for its own faults; 143 SIGTERM and 130 SIGINT
away from a terminal or a second Ctrl-C (the step in flight aborted at once). No traceback
reaches the terminal for those.
"""

from __future__ import annotations

import argparse
import math
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

import avo
from orchestrator.config import EvolutionConfig, render_default_yaml
from orchestrator.core.interruption import RunAborted
from orchestrator.core.types import Lineage
from orchestrator.errors import AvoError, ConfigError, LineageError
from orchestrator.json_option import add_json_option, json_to_stdout, write_json
from sandbox.doctor_check import DoctorCheck
from sandbox.errors import SandboxError

__all__ = ["main", "build_parser", "report_errors"]

EXIT_CHECK_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
#: Columns when stdout is not a terminal: tables are never cut for a pipe, a file or a CI log.
PIPE_WIDTH = 100_000

console = Console()
errors = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    from orchestrator.benchmarking import command_line as benchmarking_command_line
    from orchestrator import slurm_cli
    from orchestrator.report import command_line as report_command_line
    from sandbox import command_line
    from sandbox.broker import command_line as broker_command_line

    parser = argparse.ArgumentParser(prog="avo", description="Agentic Variation Operators: evolve code with an "
                                     "LLM agent; every command and scoring call runs in a disposable container.")
    parser.add_argument("--version", action="version", version=f"avo {avo.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="write a commented config, a starter seed and scorer, and a replay "
                               "transcript to try it without a key")
    init.add_argument("-o", "--output", type=Path, default=Path("avo.yaml"), help="config file to write")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")
    init.set_defaults(func=_init)

    run = commands.add_parser("run", help="run (or resume) an evolution")
    run.add_argument("config", type=Path)
    run.add_argument("--resume", action="store_true", help="continue the workspace's existing lineage")
    run.add_argument("--replay", type=Path, help="drive the agent from a recorded transcript (provider replay)")
    run.add_argument("--slurm", action="store_true", help="submit the whole run as a Slurm batch job (sandbox.slurm)")
    run.set_defaults(func=_run)

    status = commands.add_parser("status", help="best version, budgets used, recent events (an export's too)")
    status.add_argument("config", type=Path)
    status.add_argument("-n", "--events", type=int, default=10, help="how many recent events")
    add_json_option(status)
    status.set_defaults(func=_status)

    lineage = commands.add_parser("lineage", help="a table of committed versions (an export's too)")
    lineage.add_argument("config", type=Path)
    add_json_option(lineage)
    lineage.set_defaults(func=_lineage)

    doctor = commands.add_parser("doctor", help="check Docker, the image, GPUs, the config, the model endpoint, "
                                 "the scorer and the seed")
    doctor.add_argument("config", type=Path, nargs="?")
    doctor.add_argument("--no-llm", action="store_true",
                        help="skip the LLM key and endpoint checks (CI jobs that only score, like avo eval, need no model)")
    add_json_option(doctor)
    doctor.set_defaults(func=_doctor)

    command_line.register(commands, policy_loader=lambda path: EvolutionConfig.from_yaml(path).sandbox)
    broker_command_line.register(commands)
    benchmarking_command_line.register(commands)
    slurm_cli.register(commands)
    report_command_line.register(commands)

    completion = commands.add_parser("completion", help="print a shell completion script",
                                     description="Prints the completion script for SHELL, e.g. "
                                     "`avo completion bash > ~/.local/share/bash-completion/completions/avo`.")
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))  # shtab's shells
    completion.set_defaults(func=lambda args: _completion(parser, args.shell))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from orchestrator.benchmarking import command_line as benchmarking_command_line

    args = build_parser().parse_args(argv)
    for view in (console, benchmarking_command_line.console):  # the tables of status, lineage, doctor, eval
        if not view.is_terminal:
            view.width = PIPE_WIDTH
    handler: Callable[[argparse.Namespace], int] = args.func
    return report_errors(lambda: handler(args))


def report_errors(command: Callable[[], int]) -> int:
    """Run ``command``; what a user can cause ends as one red line naming the fix (exit 2),
    an abort as one line saying how to resume (130, or 128 + the signal)."""
    try:
        return command()
    except (AvoError, SandboxError) as exc:
        first, *rest = str(exc).splitlines() or [type(exc).__name__]
        # soft_wrap: the line stays one line when stderr is not a terminal (rich would wrap it at 80).
        errors.print(f"avo: {first}", style="bold red", highlight=False, markup=False, soft_wrap=True)
        if rest:
            errors.print("\n".join(rest), style="dim", highlight=False, markup=False)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:  # an abort (RunAborted): 128 + the signal, as a shell reports it
        errors.print("avo: aborted; resume with `avo run CONFIG --resume`", style="bold red", highlight=False)
        return 128 + exc.signum if isinstance(exc, RunAborted) else EXIT_INTERRUPTED


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    import shtab

    print(shtab.complete(parser, shell=shell))
    return 0


def _init(args: argparse.Namespace) -> int:
    from orchestrator.starter import REPLAY_FILE, STARTER_FILES

    output: Path = args.output
    if output.exists() and not args.force:
        raise ConfigError(f"{output} already exists: choose another -o FILE or pass --force")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_default_yaml(), encoding="utf-8")
    written = [output]
    for name, content in STARTER_FILES.items():
        path = output.parent / name
        if not path.exists():
            path.write_text(content, encoding="utf-8")
            written.append(path)
    console.print(f"wrote {', '.join(map(str, written))}\n"
                  f"try it without a key:  avo run {output} --replay {output.parent / REPLAY_FILE}\n"
                  f"then with a model:     export OPENAI_API_KEY=...; avo doctor {output}; avo run {output}\n"
                  "(the sandbox image comes first: `avo image build`; the config caps a run at 1 h and $2)",
                  highlight=False)
    return 0


def _load(path: Path, replay: Path | None = None) -> EvolutionConfig:
    config = EvolutionConfig.from_yaml(path)
    if replay is None:
        return config
    config = config.with_replay(replay)
    config.check_files("--replay")
    return config


def _run(args: argparse.Namespace) -> int:
    from orchestrator.core.parallel_agents import open_runner
    from orchestrator.preflight import preflight
    from orchestrator.run_view import RunView

    config = _load(args.config, args.replay)
    preflight(args.config, config, resume=args.resume, local=not args.slurm)
    if args.slurm:
        from orchestrator.slurm_cli import submit_run

        return submit_run(config, args.config, resume=args.resume, replay=args.replay)
    runner = open_runner(config, resume=args.resume)
    with RunView(config.run_log_path, console):
        results = runner.run()
    table = Table(title=f"{config.project_name}: {results.stop_reason}", show_header=False)
    priced = config.llm.provider == "replay" or config.llm.model in config.llm.prices
    for key, value in results.model_dump().items():
        shown = "unpriced" if key == "cost_usd" and not priced else _rounded(value)
        table.add_row(key, shown)
    console.print(table)
    return 0


def _rounded(value: Any) -> str:
    """A summary value as a person reads it: floats to 6 significant digits (the run log has them all)."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}" if abs(value) < 1e15 else f"{value:.6e}"
    return str(value)


def _committed(config: EvolutionConfig, config_path: Path) -> Lineage:
    """The run's lineage (its workspace's, or an unpacked export's bundle); no run yet is a user
    error (status 2), as it is for ``report`` and ``export``."""
    from orchestrator.report.sources import read_lineage

    lineage = read_lineage(config)
    if not lineage.solutions:
        raise LineageError(f"no run yet in {config.workspace_dir}: start one with `avo run {config_path}`")
    return lineage


def _status(args: argparse.Namespace) -> int:
    from orchestrator.core.budget import BudgetUsage
    from orchestrator.core.run_log import read_events
    from orchestrator.agent_view import AgentLines
    from orchestrator.run_view import describe, spent_text, unpriced_calls

    config = _load(args.config)
    lineage = _committed(config, args.config)
    log = config.run_log_path  # read as a stream for each use: a week's log is not held in memory
    best, seed = lineage.best or lineage.solutions[-1], lineage.solutions[0]
    usage = BudgetUsage.from_events(read_events(log, "budget"))
    unpriced = unpriced_calls(read_events(log))
    gain = (best.aggregate / seed.aggregate - 1) * 100 if seed.aggregate else 0.0
    recent = deque(((e, line) for e in read_events(log) if (line := describe(e))),
                   maxlen=args.events) if args.events > 0 else deque()
    limits = config.budget
    if args.json is not None:
        write_json(args.json, {
            "project": config.project_name, "workspace": str(config.workspace_dir),
            "versions": len(lineage.solutions),
            "best": {"version": best.version, "aggregate": best.aggregate},
            "seed_aggregate": seed.aggregate, "improvement_pct": gain,
            "spent": {"tokens": usage.tokens, "cost_usd": usage.cost_usd, "unpriced_calls": unpriced,
                      "elapsed_s": usage.elapsed_s},
            "limits": {"max_total_tokens": limits.max_total_tokens, "max_total_cost_usd": limits.max_total_cost_usd,
                       "max_wall_time_hours": config.max_wall_time_hours},
            "recent_events": [{"ts": e.get("ts"), "kind": e.get("kind"), "text": line} for e, line in recent],
        })
        if json_to_stdout(args):
            return 0
    console.print(f"best v{best.version}: aggregate {best.aggregate:.6g} ({gain:+.2f}% over the seed), "
                  f"{len(lineage.solutions)} versions", highlight=False)
    console.print(f"spent: {spent_text(usage.tokens, usage.cost_usd, unpriced)} "
                  f"(limits: {limits.max_total_tokens or 'no'} tokens, "
                  f"{f'${limits.max_total_cost_usd:g}' if limits.max_total_cost_usd else 'no dollar limit'}), "
                  f"{usage.elapsed_s / 3600:.2f} h of {config.max_wall_time_hours:g} h", highlight=False)
    agents = AgentLines()
    for event in read_events(log):
        agents.apply(event)
    if agents.lines:
        console.print("agents:\n" + "\n".join(f"  {line}" for line in agents.render()), highlight=False,
                      markup=False)
    if recent:
        lines = [f"{e.get('ts', '')[:19]}  {line}" for e, line in recent]
        console.print("recent events:\n" + "\n".join(lines), highlight=False, markup=False, soft_wrap=True)
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from orchestrator.benchmarking.rebench_store import latest_by_version
    from orchestrator.benchmarking.terminal import lineage_columns

    config = _load(args.config)
    lineage = _committed(config, args.config)
    rebenched = latest_by_version(config, lineage)  # `avo rebench` results, kept beside the lineage
    gains: list[float | None] = [None] + [(now.aggregate / before.aggregate - 1) * 100 if before.aggregate else None
                                          for before, now in zip(lineage.solutions, lineage.solutions[1:])]
    if args.json is not None:
        write_json(args.json, {"project": config.project_name, "versions": [
            {"version": s.version, "aggregate": s.aggregate, "improvement_pct": gain,
             "created_at": s.created_at.isoformat(), "message": s.message,
             "rebench": rebenched[s.version].model_dump(mode="json") if s.version in rebenched else None}
            for s, gain in zip(lineage.solutions, gains)]})
        if json_to_stdout(args):
            return 0
    table = Table(title=f"{config.project_name}: lineage ({len(lineage.solutions)} versions)")
    for column in ("version", "aggregate", "improvement", *(("re-measured", "reproduces") if rebenched else ())):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    table.add_column("time", no_wrap=True)
    table.add_column("message", no_wrap=True)
    # The message's first line, cut to what the other columns leave of a terminal (never for a pipe);
    # `git log` in the lineage folder has the rest.
    room = max(12, console.width - 62 - (40 if rebenched else 0))
    for solution, gain in zip(lineage.solutions, gains):
        first_line = solution.message.splitlines()[0] if solution.message else ""
        remeasured = lineage_columns(rebenched.get(solution.version)) if rebenched else ()
        table.add_row(f"v{solution.version}", f"{solution.aggregate:.6g}", "-" if gain is None else f"{gain:+.2f}%",
                      *remeasured, solution.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      escape(first_line if len(first_line) <= room else first_line[:room - 1] + "…"))
    console.print(table)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from orchestrator.doctor import llm_checks, scorer_checks
    from sandbox.doctor import diagnose
    from sandbox.policy import SandboxPolicy

    checks: list[DoctorCheck] = []
    policy = SandboxPolicy()
    config = None
    if args.config is not None:
        try:
            config = EvolutionConfig.from_yaml(args.config)
        except ConfigError as exc:
            checks.append(DoctorCheck(name="config", ok=False, detail=str(exc), fix="fix the key named above"))
        else:
            policy = config.sandbox
            checks.append(DoctorCheck(name="config", ok=True, detail=f"{args.config} is valid"))
            if not args.no_llm:
                checks.extend(llm_checks(config))
    sandbox_checks = diagnose(policy)
    checks.extend(sandbox_checks)
    if config is not None and all(check.ok for check in sandbox_checks):  # a scorer needs a working sandbox
        checks.extend(scorer_checks(config))
    failed = not all(check.ok for check in checks)
    if args.json is not None:
        write_json(args.json, {"ok": not failed, "checks": [check.model_dump() for check in checks]})
        if json_to_stdout(args):
            return EXIT_CHECK_FAILED if failed else 0
    table = Table(title="avo doctor")
    for column in ("check", "", "detail", "fix"):
        table.add_column(column)
    for check in checks:
        mark = "[red]FAIL[/]" if not check.ok else "[yellow]warn[/]" if check.warning else "[green]ok[/]"
        table.add_row(escape(check.name), mark, escape(check.detail), escape(check.fix))
    console.print(table)
    return EXIT_CHECK_FAILED if failed else 0
