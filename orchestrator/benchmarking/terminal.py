"""The tables ``avo eval`` and ``avo rebench`` print, and the columns they add to ``avo lineage``."""

from __future__ import annotations

from rich.markup import escape as _markup_escape
from rich.table import Table

from orchestrator.untrusted_text import plain

from .eval_job import EvalResult
from .measurement import describe, describe_ratio, number
from .rebench import RebenchedVersion, RebenchResult

__all__ = ["eval_table", "lineage_columns", "rebench_table"]

_STYLE = {"ok": "green", "reproduces": "green", "slower": "yellow", "above": "yellow",
          "incorrect": "bold red", "regressed": "bold red", "below": "bold red"}


def eval_table(result: EvalResult) -> Table:
    base = result.baseline
    table = Table(title=f"avo eval: {escape(result.project)} ({result.rounds} round(s), "
                        f"tolerance {result.tolerance:.0%})",
                  caption=f"candidate: {escape(result.candidate.label)}; baseline: "
                          f"{escape(base.label) if base else 'none'}")
    for column in ("configuration", "candidate", "baseline", "ratio", "status"):
        table.add_column(column, justify="left" if column in ("configuration", "status") else "right",
                         no_wrap=column == "configuration")
    for row in result.configurations:
        table.add_row(escape(row.name), describe(row.candidate), describe(row.baseline), describe_ratio(row.ratio),
                      _status(row.status))
    table.add_section()
    table.add_row("aggregate", result.candidate.describe_aggregate(), base.describe_aggregate() if base else "-",
                  describe_ratio(result.aggregate_ratio), _status(result.verdict))
    return table


def rebench_table(result: RebenchResult) -> Table:
    table = Table(title=f"avo rebench: {escape(result.project)} ({result.rounds} round(s), "
                        f"tolerance {result.tolerance:.0%})")
    for column, justify in (("version", "left"), ("configuration", "left"), ("recorded", "right"),
                            ("re-measured", "right"), ("ratio", "right"), ("status", "left")):
        table.add_column(column, justify=justify, no_wrap=column in ("version", "configuration"))
    for version in result.versions:
        best = " best" if version.version == result.best_version else ""
        table.add_section()
        table.add_row(f"v{version.version}{best}", "aggregate", number(version.recorded_aggregate),
                      version.measured.describe_aggregate(), describe_ratio(version.aggregate_ratio),
                      _status(version.status))
        for name, value in version.ratios.items():
            recorded = version.recorded.get(name)
            table.add_row("", escape(name), "-" if recorded is None else number(recorded),
                          describe(version.measured.configurations.get(name)), describe_ratio(value), "")
    return table


def lineage_columns(version: RebenchedVersion | None) -> tuple[str, str]:
    """``(re-measured, reproduces)`` cells of ``avo lineage`` for one version."""
    if version is None:
        return "-", "-"
    return version.measured.describe_aggregate(), _status(version.status) + (
        f" {describe_ratio(version.aggregate_ratio)}" if version.aggregate_ratio is not None else "")


def escape(text: str) -> str:
    """Text shown in a cell: no rich markup and no terminal controls (a scorer's names and a
    candidate's labels are not avo's)."""
    return _markup_escape(plain(text))


def _status(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status
