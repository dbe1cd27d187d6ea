"""``avo``: init | run | status | lineage | doctor, the sandbox's sandbox exec | gc | image, and report | export.

Every error a user can cause ends as one red line naming the fix and exit status 2;
an abort ends with 128 + the signal: SIGTERM 143, SIGINT 130 (see orchestrator.core.interruption).
No traceback reaches the terminal for those.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.config import EvolutionConfig, render_default_yaml
from orchestrator.core.interruption import RunAborted
from orchestrator.errors import AvoError, ConfigError
from sandbox.doctor_check import DoctorCheck
from sandbox.errors import SandboxError

__all__ = ["main", "build_parser", "report_errors"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

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
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="write a commented config (and a starter seed and scorer)")
    init.add_argument("-o", "--output", type=Path, default=Path("avo.yaml"), help="config file to write")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")
    init.set_defaults(func=_init)

    run = commands.add_parser("run", help="run (or resume) an evolution")
    run.add_argument("config", type=Path)
    run.add_argument("--resume", action="store_true", help="continue the workspace's existing lineage")
    run.add_argument("--replay", type=Path, help="drive the agent from a recorded transcript (provider replay)")
    run.add_argument("--slurm", action="store_true", help="submit the whole run as a Slurm batch job (sandbox.slurm)")
    run.set_defaults(func=_run)

    status = commands.add_parser("status", help="best version, budgets used, recent events")
    status.add_argument("config", type=Path)
    status.add_argument("-n", "--events", type=int, default=10, help="how many recent events")
    status.set_defaults(func=_status)

    lineage = commands.add_parser("lineage", help="a table of committed versions")
    lineage.add_argument("config", type=Path)
    lineage.set_defaults(func=_lineage)

    doctor = commands.add_parser("doctor", help="check Docker, the image, GPUs, the config and the LLM key")
    doctor.add_argument("config", type=Path, nargs="?")
    doctor.add_argument("--no-llm", action="store_true",
                        help="skip the LLM key check (CI jobs that only score, like avo eval, need no model)")
    doctor.set_defaults(func=_doctor)

    command_line.register(commands, policy_loader=lambda path: EvolutionConfig.from_yaml(path).sandbox)
    broker_command_line.register(commands)
    benchmarking_command_line.register(commands)
    slurm_cli.register(commands)
    report_command_line.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


def _init(args: argparse.Namespace) -> int:
    from orchestrator.starter import STARTER_FILES

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
    console.print(f"wrote {', '.join(map(str, written))}\nnext: `make image`, set OPENAI_API_KEY, "
                  f"then `avo run {output}`", highlight=False)
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
    from orchestrator.run_view import RunView

    config = _load(args.config, args.replay)
    if args.slurm:
        from orchestrator.slurm_cli import submit_run

        return submit_run(config, args.config, resume=args.resume, replay=args.replay)
    runner = open_runner(config, resume=args.resume)
    with RunView(config.run_log_path, console):
        results = runner.run()
    table = Table(title=f"{config.project_name}: {results.stop_reason}", show_header=False)
    for key, value in results.model_dump().items():
        table.add_row(key, str(value))
    console.print(table)
    return 0


def _status(args: argparse.Namespace) -> int:
    from orchestrator.core.budget import BudgetUsage
    from orchestrator.core.run_log import read_events
    from orchestrator.persistence.store import open_store
    from orchestrator.agent_view import AgentLines
    from orchestrator.run_view import describe

    config = _load(args.config)
    lineage = open_store(config).load()
    events = list(read_events(config.run_log_path))
    if not lineage.solutions:
        console.print(f"no lineage yet in {config.workspace_dir}: start with `avo run {args.config}`")
        return 0
    best, seed = lineage.solutions[-1], lineage.solutions[0]
    usage = BudgetUsage.from_events(events)
    gain = (best.aggregate / seed.aggregate - 1) * 100 if seed.aggregate else 0.0
    console.print(f"best v{best.version}: aggregate {best.aggregate:.6g} ({gain:+.2f}% over the seed), "
                  f"{len(lineage.solutions)} versions", highlight=False)
    limits = config.budget
    console.print(f"spent: {usage.tokens} tokens (limit {limits.max_total_tokens or 'none'}), "
                  f"${usage.cost_usd:.4f} (limit {limits.max_total_cost_usd or 'none'}), "
                  f"{usage.elapsed_s / 3600:.2f} h of {config.max_wall_time_hours:g} h", highlight=False)
    agents = AgentLines()
    for event in events:
        agents.apply(event)
    if agents.lines:
        console.print("agents:\n" + "\n".join(f"  {line}" for line in agents.render()), highlight=False,
                      markup=False)
    recent = [f"{e.get('ts', '')[:19]}  {line}" for e in events if (line := describe(e))]
    if recent:
        console.print("recent events:\n" + "\n".join(recent[-args.events:]), highlight=False, markup=False)
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from orchestrator.benchmarking.rebench_store import latest_by_version
    from orchestrator.benchmarking.terminal import lineage_columns
    from orchestrator.persistence.store import open_store

    config = _load(args.config)
    lineage = open_store(config).load()
    rebenched = latest_by_version(config, lineage)  # `avo rebench` results, kept beside the lineage
    table = Table(title=f"{config.project_name}: lineage ({len(lineage.solutions)} versions)")
    for column in ("version", "aggregate", "improvement", *(("re-measured", "reproduces") if rebenched else ())):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    table.add_column("time", no_wrap=True)
    table.add_column("message", no_wrap=True)
    # The message's first line, cut to what the other columns leave of the terminal;
    # `git log` in the lineage folder has the rest.
    room = max(12, console.width - 62 - (40 if rebenched else 0))
    previous = None
    for solution in lineage.solutions:
        gain = f"{(solution.aggregate / previous - 1) * 100:+.2f}%" if previous else "-"
        first_line = solution.message.splitlines()[0] if solution.message else ""
        remeasured = lineage_columns(rebenched.get(solution.version)) if rebenched else ()
        table.add_row(f"v{solution.version}", f"{solution.aggregate:.6g}", gain, *remeasured,
                      solution.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      escape(first_line if len(first_line) <= room else first_line[:room - 1] + "…"))
        previous = solution.aggregate
    console.print(table)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from sandbox.doctor import diagnose
    from sandbox.policy import SandboxPolicy

    checks: list[DoctorCheck] = []
    policy = SandboxPolicy()
    if args.config is not None:
        try:
            config = EvolutionConfig.from_yaml(args.config)
        except ConfigError as exc:
            checks.append(DoctorCheck(name="config", ok=False, detail=str(exc), fix="fix the key named above"))
        else:
            policy = config.sandbox
            checks.append(DoctorCheck(name="config", ok=True, detail=f"{args.config} is valid"))
            if not args.no_llm:
                checks.append(_llm_key_check(config))
    checks.extend(diagnose(policy))
    table = Table(title="avo doctor")
    for column in ("check", "", "detail", "fix"):
        table.add_column(column)
    for check in checks:
        mark = "[red]FAIL[/]" if not check.ok else "[yellow]warn[/]" if check.warning else "[green]ok[/]"
        table.add_row(escape(check.name), mark, escape(check.detail), escape(check.fix))
    console.print(table)
    return 0 if all(check.ok for check in checks) else 1


def _llm_key_check(config: EvolutionConfig) -> DoctorCheck:
    """Whether the model can be reached with a key (the key itself is never printed)."""
    variable = config.llm.key_env_var
    if config.llm.api_key:
        return DoctorCheck(name="llm key", ok=True, detail=f"{config.llm.provider}: api_key set in the config")
    if variable is None:
        return DoctorCheck(name="llm key", ok=True, detail=f"{config.llm.provider}: no key needed")
    present = bool(os.environ.get(variable))
    return DoctorCheck(name="llm key", ok=present,
                       detail=f"{config.llm.provider}: {variable} {'set' if present else 'not set'}",
                       fix="" if present else f"export {variable}=... or set llm.api_key: ${{{variable}}}")
