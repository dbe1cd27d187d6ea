"""``avo report`` and ``avo export``: added to ``avo``'s subcommands by :func:`register`.

Handlers raise :class:`orchestrator.errors.AvoError` subclasses for what a user can get
wrong (no run in the workspace, an unwritable output, a port in use); ``avo``'s main prints
them as one line naming the fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.config import EvolutionConfig

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``export`` to ``avo``'s subcommands."""
    report = subparsers.add_parser(
        "report", help="the run as one self-contained HTML file (or a live view, or PNG figures)",
        description="Builds a self-contained HTML report of the run (score plots, lineage with diffs, rejected "
                    "attempts, spending, sandbox health) from the lineage and the run log. It opens offline.")
    report.add_argument("config", type=Path)
    report.add_argument("-o", "--output", type=Path, help="HTML file to write (default: WORKSPACE/report.html)")
    report.add_argument("--workspace", type=Path, help="the run's folder, when it is not the config's workspace_dir")
    report.add_argument("--png", type=Path, metavar="DIR", help="also write the main figures as PNG files into DIR")
    report.add_argument("--serve", action="store_true", help="serve a live view that follows the run")
    report.add_argument("--host", default="127.0.0.1", help="address to bind with --serve (default 127.0.0.1; "
                        "every address requires the token printed in the URL; 0.0.0.0 prints this host's name)")
    report.add_argument("--port", type=int, default=8765, help="port for --serve (0: any free port)")
    report.add_argument("--refresh", type=float, default=2.0, metavar="SECONDS",
                        help="how often the live view checks for changes (default 2)")
    report.set_defaults(func=_report)

    export = subparsers.add_parser(
        "export", help="pack the run (lineage bundle, report, redacted config, run log, scorer) into a .tar.gz",
        description="Writes OUT.tar.gz holding the lineage as a git bundle, the report, the config with literal "
                    "secrets redacted, the run log and the scorer's files; `avo report NAME/config.yaml` on the "
                    "unpacked folder works on another machine without Docker.")
    export.add_argument("config", type=Path)
    export.add_argument("output", type=Path, metavar="OUT.tar.gz")
    export.add_argument("--workspace", type=Path, help="the run's folder, when it is not the config's workspace_dir")
    export.set_defaults(func=_export)


def _config(args: argparse.Namespace) -> EvolutionConfig:
    from orchestrator.report.writer import load_config

    return load_config(args.config, args.workspace)


def _report(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.serve:
        from orchestrator.report.live import serve

        serve(config, host=args.host, port=args.port, refresh_s=args.refresh,
              announce=lambda url: print(f"live report of {config.workspace_dir}: {url}  (Ctrl-C to stop)", flush=True))
        return 0
    from orchestrator.report.plots import write_pngs
    from orchestrator.report.writer import report_of, write_html

    report = report_of(config)
    output = write_html(report, args.output or config.workspace_dir / "report.html")
    print(f"report: {output.resolve()}")
    for path in write_pngs(report, args.png) if args.png is not None else []:
        print(f"figure: {path.resolve()}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from orchestrator.report.export import export_run

    output = export_run(args.config, args.output, workspace=args.workspace)
    print(f"export: {output.resolve()} (unpack it and run `avo report {output.name.split('.')[0]}/config.yaml`)")
    return 0
