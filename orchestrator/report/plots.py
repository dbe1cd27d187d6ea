"""The report's figures, drawn with Matplotlib on the host: inline SVG for the HTML report,
PNG for ``avo report --png``.

Matplotlib rather than a JavaScript charting library: the figures are finished when the
report is written, so the page needs no third-party script (its Content-Security-Policy
allows only the report's own few lines), opens offline with nothing to fetch, and the
same code draws the PNGs for papers and READMEs. Text is written as SVG text (selectable,
small) with maths parsing off, so a ``$`` in a configuration name is just a character.
Dense layers (thousands of rejected attempts) are rasterised inside the SVG, which keeps
a 10,000-attempt report small and quick to paint.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from orchestrator.report.model import AttemptView, RunReport
from orchestrator.report.rejections import CATEGORIES

__all__ = ["CATEGORY_COLORS", "Figures", "figures", "write_pngs"]

BLUE, BAND, GREY, PURPLE, INK, MUTED = "#2563eb", "#bfdbfe", "#94a3b8", "#7c3aed", "#0f172a", "#64748b"
CATEGORY_COLORS = {
    "correctness": "#dc2626", "not_reproduced": "#db2777", "crashed": "#ea580c", "not_better": "#94a3b8",
    "config_failed": "#d97706", "identical": "#0891b2", "no_submit": "#64748b", "refused": "#7c2d12",
    "other": "#475569",
}
#: Above this many marks a layer is rasterised inside the SVG.
RASTER_ABOVE = 1500
_LABELLED_VERSIONS = 12
#: Above this many, failed attempts are drawn as a stacked histogram, and interventions unnumbered.
DENSE_FAILURES = 400
_NUMBERED_INTERVENTIONS = 30
_STYLE = {
    "svg.fonttype": "none", "text.parse_math": False, "text.usetex": False, "font.size": 9,
    "font.family": ["DejaVu Sans", "sans-serif"], "axes.edgecolor": "#cbd5e1", "axes.labelcolor": INK,
    "axes.titleweight": "bold", "axes.titlesize": 10, "axes.titlelocation": "left", "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.color": "#e2e8f0", "grid.linewidth": 0.6,
    "xtick.color": MUTED, "ytick.color": MUTED, "legend.frameon": False, "legend.fontsize": 8,
    "figure.facecolor": "none", "axes.facecolor": "none", "savefig.facecolor": "none",
}
_SIZE = re.compile(r'(<svg[^>]*?)\s+width="[^"]*"\s+height="[^"]*"')


class Figures:
    """The report's figures by name (``score_time``, ``score_versions``, ``spending``, ``sandbox``)."""

    def __init__(self, figures: dict[str, Figure]) -> None:
        self.figures = figures

    def svg(self, name: str) -> str | None:
        """The figure as an inline ``<svg>`` element (no XML prolog), scaled by CSS; None if not drawn."""
        figure = self.figures.get(name)
        if figure is None:
            return None
        buffer = io.StringIO()
        with _style():
            figure.savefig(buffer, format="svg", dpi=110, metadata={"Date": None})
        text = buffer.getvalue()
        text = text[text.index("<svg"):]
        return _SIZE.sub(rf'\1 class="plot" role="img" aria-label="{name}"', text, count=1)


def figures(report: RunReport) -> Figures:
    """Draw every figure the report has data for."""
    drawn: dict[str, Figure] = {}
    with _style():
        if report.versions:
            drawn["score_time"] = _score_over_time(report)
            drawn["score_versions"] = _score_over_versions(report)
        if any(m.tokens or m.cost_usd for m in report.spend):
            drawn["spending"] = _spending(report)
        if report.sandbox:
            drawn["sandbox"] = _sandbox(report)
    return Figures(drawn)


def write_pngs(report: RunReport, folder: Path, dpi: int = 160) -> list[Path]:
    """The figures as PNG files in ``folder`` (created), white background; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures(report).figures.items():
        path = folder / f"{name}.png"
        with _style():
            figure.savefig(path, format="png", dpi=dpi, facecolor="white",
                           metadata={"Software": None})
        written.append(path)
    return written


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_STYLE):
        yield


# -- score ------------------------------------------------------------------------------------------


def _score_over_time(report: RunReport) -> Figure:
    versions, attempts = report.versions, report.attempts
    figure, axes, strip = _score_figure()
    end = max([report.header.last_event or versions[-1].created_at, versions[-1].created_at]
              + [a.at for a in attempts])
    times = [v.created_at for v in versions] + [end]
    best = [v.aggregate for v in versions] + [versions[-1].aggregate]
    margin = report.header.min_improvement
    axes.fill_between(times, best, [b * (1 + margin) for b in best], step="post", color=BAND, alpha=0.8, lw=0,
                      label=f"noise margin ({margin:g})")
    axes.step(times, [b * (1 + margin) for b in best], where="post", color=BLUE, lw=0.7, ls=":", alpha=0.8, zorder=3,
              label="needed to commit")
    axes.step(times, best, where="post", color=BLUE, lw=2, label="best aggregate", zorder=3)
    _attempt_marks(axes, [a.at for a in attempts if a.aggregate > 0], [a.aggregate for a in attempts if a.aggregate > 0])
    points = axes.scatter([v.created_at for v in versions], [v.aggregate for v in versions], s=28, color=BLUE,
                          edgecolor="white", linewidth=0.8, zorder=4, label="committed version")
    points.set_urls([f"#v{v.version}" for v in versions])
    _label_versions(axes, [v.created_at for v in versions], versions)
    _failure_strip(strip, [a.at for a in attempts if a.aggregate <= 0],
                   [a.category for a in attempts if a.aggregate <= 0])
    _interventions(axes, strip, [i.at for i in report.interventions])
    _score_scale(axes, best + [a.aggregate for a in attempts if a.aggregate > 0])
    axes.set_ylabel("aggregate score")
    axes.set_title("Score over time", pad=14)
    axes.tick_params(labelbottom=False)
    _time_axis(strip)
    span = max((end - versions[0].created_at).total_seconds(), 1.0)
    axes.set_xlim(versions[0].created_at - timedelta(seconds=span * 0.02), end + timedelta(seconds=span * 0.02))
    _legend(axes, [a.category for a in attempts if a.aggregate <= 0], loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def _score_over_versions(report: RunReport) -> Figure:
    versions, attempts = report.versions, report.attempts
    figure, axes, strip = _score_figure()
    numbers = [v.version for v in versions]
    margin = report.header.min_improvement
    edges = numbers + [numbers[-1] + 1]
    best = [v.aggregate for v in versions] + [versions[-1].aggregate]
    axes.fill_between(edges, best, [b * (1 + margin) for b in best], step="post", color=BAND, alpha=0.8, lw=0,
                      label=f"noise margin ({margin:g})")
    palette = matplotlib.colormaps["tab10" if len(report.header.configurations) <= 10 else "tab20"]
    values: list[float] = []
    for n, name in enumerate(report.header.configurations):
        series = [next((c.value for c in v.values if c.name == name), None) for v in versions]
        pairs = [(x, y) for x, y in zip(numbers, series) if y is not None and y > 0]
        if pairs:
            xs, ys = zip(*pairs)
            values.extend(ys)
            axes.plot(xs, ys, lw=1, marker="o" if len(xs) <= 60 else None, ms=2.5, alpha=0.75,
                      color=palette(n % palette.N), label=name, zorder=2)
    positions = _attempt_positions(report)
    scored = [(positions[a.step], a.aggregate) for a in attempts if a.aggregate > 0 and a.step in positions]
    _attempt_marks(axes, [x for x, _ in scored], [y for _, y in scored])
    axes.plot(numbers, best[:-1], color=BLUE, lw=2.4, zorder=4, label="aggregate")
    points = axes.scatter(numbers, best[:-1], s=30, color=BLUE, edgecolor="white", linewidth=0.8, zorder=5)
    points.set_urls([f"#v{v.version}" for v in versions])
    failed = [a for a in attempts if a.aggregate <= 0 and a.step in positions]
    _failure_strip(strip, [positions[a.step] for a in failed], [a.category for a in failed])
    _interventions(axes, strip, [positions.get(i.step) for i in report.interventions])
    _score_scale(axes, best + values + [y for _, y in scored])
    axes.set_xlim(-0.3, numbers[-1] + 1)
    axes.set_ylabel("score (aggregate and per configuration)")
    axes.set_title("Score over versions", pad=14)
    axes.tick_params(labelbottom=False)
    strip.set_xlabel("version (rejected attempts sit between the version they tried to beat and the next)")
    if numbers[-1] <= 30:
        strip.set_xticks(numbers)
    _legend(axes, [a.category for a in failed], loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def _legend(axes: Axes, categories: list[str], **where: object) -> None:
    """The axes' own entries, then one per category of failed attempt drawn in the strip."""
    handles, labels = axes.get_legend_handles_labels()
    for category in sorted(set(categories), key=list(CATEGORIES).index):
        handles.append(Line2D([], [], color=CATEGORY_COLORS.get(category, INK), marker="|", ls="", ms=10, mew=1.5))
        labels.append(f"failed: {CATEGORIES[category][0].lower()}")
    axes.legend(handles, labels, handlelength=1.6, **where)


def _score_figure() -> tuple[Figure, Axes, Axes]:
    """A score chart: the main axes over a thin strip (sharing x) for the failed attempts."""
    figure = Figure(figsize=(10, 4.6))
    grid = figure.add_gridspec(2, 1, height_ratios=[9, 1], hspace=0.06, left=0.075, right=0.75, top=0.91, bottom=0.1)
    axes: Axes = figure.add_subplot(grid[0])
    return figure, axes, figure.add_subplot(grid[1], sharex=axes)


def _interventions(axes: Axes, strip: Axes, positions: list) -> None:
    """The supervisor's interventions as dashed lines, numbered S1, S2, ... while there are few."""
    few = len(positions) <= _NUMBERED_INTERVENTIONS
    for number, x in enumerate(positions, start=1):
        if x is None:
            continue
        for ax in (axes, strip):
            ax.axvline(x, color=PURPLE, lw=0.9 if few else 0.6, ls="--", alpha=0.6 if few else 0.3, zorder=1)
        if few:
            axes.annotate(f"S{number}", (x, 1), xycoords=("data", "axes fraction"), color=PURPLE, fontsize=8,
                          ha="center", va="bottom", fontweight="bold")


def _attempt_positions(report: RunReport) -> dict[int, float]:
    """Step -> x on the version axis: a commit at its version, the attempts made while version N
    was best spread evenly between N and N + 1."""
    positions: dict[int, float] = {v.step: float(v.version) for v in report.versions if v.step is not None}
    by_best: dict[int, list[AttemptView]] = {}
    for attempt in report.attempts:
        best = attempt.best_version
        if best is None:
            best = max((v.version for v in report.versions if v.step is not None and v.step < attempt.step), default=0)
        by_best.setdefault(best, []).append(attempt)
    for best, tried in by_best.items():
        for k, attempt in enumerate(tried, start=1):
            positions[attempt.step] = best + k / (len(tried) + 1)
    return positions


def _attempt_marks(axes: Axes, xs: list, ys: list[float]) -> None:
    if xs:
        axes.scatter(xs, ys, s=9, color=GREY, alpha=0.45, lw=0, zorder=2, label="rejected attempt (correct)",
                     rasterized=len(xs) > RASTER_ABOVE)


def _failure_strip(strip: Axes, xs: list, categories: list[str]) -> None:
    """Failed attempts (no score) under the score axes, coloured by category: one tick each, or
    a stacked histogram when there are too many to tell apart."""
    strip.set_yticks([])
    strip.grid(False)
    strip.spines["left"].set_visible(False)
    strip.set_ylabel("failed", rotation=0, ha="right", va="center", fontsize=8, color=MUTED)
    present = list(dict.fromkeys(categories))
    colors = [CATEGORY_COLORS.get(c, CATEGORY_COLORS["other"]) for c in present]
    if len(xs) > DENSE_FAILURES:
        groups = [[x for x, c in zip(xs, categories) if c == category] for category in present]
        strip.hist(groups, bins=80, stacked=True, color=colors, lw=0, alpha=0.9)
        return
    strip.set_ylim(0, 1)
    for category, color in zip(present, colors):
        chosen = [x for x, c in zip(xs, categories) if c == category]
        strip.scatter(chosen, [0.5] * len(chosen), marker="|", s=120, lw=1, alpha=0.85, color=color)


def _label_versions(axes: Axes, xs: list, versions: list) -> None:
    every = max(1, math.ceil(len(versions) / _LABELLED_VERSIONS))
    for index, (x, version) in enumerate(zip(xs, versions)):
        if index % every == 0 or index == len(versions) - 1:
            axes.annotate(f"v{version.version}", (x, version.aggregate), textcoords="offset points", xytext=(-3, 8),
                          ha="right", fontsize=7.5, color=INK, zorder=6,
                          bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _score_scale(axes: Axes, values: list[float]) -> None:
    """A log axis when scores span more than a factor of 20 (speedups usually do)."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if positive and max(positive) / min(positive) > 20:
        _log_axis(axes, "y")


def _log_axis(axes: Axes, which: str) -> None:
    """Log scale with plain tick labels (1, 10, 100, 1k): maths text is off for untrusted labels."""
    getattr(axes, f"set_{which}scale")("log")
    axis = axes.xaxis if which == "x" else axes.yaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _: compact(value)))
    axis.set_minor_formatter(NullFormatter())


def compact(value: float) -> str:
    """``1.2k``, ``35``, ``0.004``: short numbers for ticks."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:.3g}"


# -- spending and sandbox ---------------------------------------------------------------------------


def _spending(report: RunReport) -> Figure:
    figure = Figure(figsize=(10, 3.4))
    cost_axes, token_axes = figure.subplots(1, 2)
    palette = matplotlib.colormaps["tab10"]
    for n, model in enumerate(report.spend):
        times = [p.at for p in model.series]
        color = palette(n % palette.N)
        cost_axes.step(times, [p.cost_usd for p in model.series], where="post", color=color, lw=1.6, label=model.label)
        token_axes.step(times, [p.tokens for p in model.series], where="post", color=color, lw=1.6, label=model.label)
    projection = report.projection
    last = report.header.last_event
    if projection is not None and last is not None and projection.hours_left > 0:
        horizon = last + timedelta(hours=min(projection.hours_left, max(projection.active_hours, 1 / 60) * 2))
        hours = (horizon - last).total_seconds() / 3600
        for axes, now, rate in ((cost_axes, report.total_cost_usd, projection.cost_per_hour),
                                (token_axes, report.total_tokens, projection.tokens_per_hour)):
            axes.plot([last, horizon], [now, now + rate * hours], color=INK, lw=1, ls=":",
                      label="all models at the recent rate")
    if report.header.max_total_cost_usd:
        cost_axes.axhline(report.header.max_total_cost_usd, color="#dc2626", lw=1, ls="--", label="cost budget")
    if report.header.max_total_tokens and report.total_tokens > report.header.max_total_tokens / 20:
        token_axes.axhline(report.header.max_total_tokens, color="#dc2626", lw=1, ls="--", label="token budget")
    for axes, title, unit in ((cost_axes, "Cost over time", "USD (cumulative)"),
                              (token_axes, "Tokens over time", "tokens (cumulative)")):
        _time_axis(axes)
        axes.set_title(title)
        axes.set_ylabel(unit)
        axes.set_ylim(bottom=0)
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: compact(value)))
    token_axes.legend(loc="upper left")
    figure.subplots_adjust(left=0.075, right=0.98, top=0.9, bottom=0.14, wspace=0.25)
    return figure


def _sandbox(report: RunReport) -> Figure:
    agreement = report.agreement
    panels = 2 if agreement.points else 1
    figure = Figure(figsize=(10, 3.4))
    axes_list = figure.subplots(1, panels, squeeze=False)[0]
    latency_axes = axes_list[0]
    rows = report.sandbox
    jitter = np.random.default_rng(0)
    for y, row in enumerate(rows, start=1):
        durations = np.maximum(np.array(row.durations), 1e-3)
        if durations.size > RASTER_ABOVE:  # too many points to show one by one: the distribution's box
            latency_axes.boxplot([durations], positions=[y], orientation="horizontal", widths=0.45, showfliers=False,
                                 patch_artist=True, boxprops={"facecolor": BAND, "edgecolor": BLUE},
                                 medianprops={"color": BLUE}, whiskerprops={"color": BLUE}, capprops={"color": BLUE})
        else:
            latency_axes.scatter(durations, y + jitter.uniform(-0.18, 0.18, durations.size), s=10, color=BLUE,
                                 alpha=0.7 if durations.size < 200 else 0.3, lw=0)
        latency_axes.plot([max(row.p50_s, 1e-3)] * 2, [y - 0.3, y + 0.3], color=INK, lw=2,
                          label="p50" if y == 1 else None)
        latency_axes.plot([max(row.p95_s, 1e-3)] * 2, [y - 0.3, y + 0.3], color="#dc2626", lw=1.2,
                          label="p95" if y == 1 else None)
    latency_axes.legend(loc="lower right")
    latency_axes.set_yticks(range(1, len(rows) + 1), [f"{r.purpose}\n{r.calls:,} calls" for r in rows])
    _log_axis(latency_axes, "x")
    latency_axes.set_xlabel("seconds per sandboxed call (log)")
    latency_axes.set_title("Sandbox latency")
    if panels == 2:
        _agreement_panel(axes_list[1], report)
    figure.subplots_adjust(left=0.15, right=0.98, top=0.9, bottom=0.15, wspace=0.3)
    return figure


def _agreement_panel(axes: Axes, report: RunReport) -> None:
    points = report.agreement.points
    passing = [p for p in points if p.claimed > 0 and p.rescore > 0]
    failed = [p for p in points if p.claimed <= 0 or p.rescore <= 0]
    values = [v for p in passing for v in (p.claimed, p.rescore)]
    low, high = (min(values), max(values)) if values else (0.1, 1.0)
    line = [low * 0.8, high * 1.25]
    margin = report.header.min_improvement
    axes.fill_between(line, [v / (1 + margin) for v in line], [v * (1 + margin) for v in line], color=BAND, lw=0,
                      alpha=0.8, label=f"within min_improvement ({margin:g})")
    axes.plot(line, line, color=MUTED, lw=0.8, ls="--")
    axes.scatter([p.claimed for p in passing], [p.rescore for p in passing], s=16, color=BLUE, alpha=0.75, lw=0,
                 label="both correct", rasterized=len(passing) > RASTER_ABOVE)
    if failed:
        edge = line[0]
        axes.scatter([p.claimed if p.claimed > 0 else edge for p in failed],
                     [p.rescore if p.rescore > 0 else edge for p in failed], s=22 if len(failed) < 100 else 8, marker="x",
                     color="#dc2626", lw=1, alpha=0.8 if len(failed) < 100 else 0.35,
                     label="one side failed correctness (drawn at the edge)", rasterized=len(failed) > RASTER_ABOVE)
    if values and high / low > 20:
        _log_axis(axes, "x")
        _log_axis(axes, "y")
    axes.set_xlabel("agent's own evaluation (aggregate)")
    axes.set_ylabel("fresh re-score (aggregate)")
    axes.set_title("Re-score vs agent-evaluate")
    axes.legend(loc="upper left", fontsize=7)


def _time_axis(axes: Axes) -> None:
    """Clock-time ticks at any span: a minute-long run reads 12:17:10, 12:17:20, not a bare 10, 20
    (matplotlib's default for seconds); the date sits once in the axis' corner."""
    locator = AutoDateLocator()
    formats = ["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"]
    axes.xaxis.set_major_locator(locator)
    zero_formats = ["", "%Y", "%b", "%b-%d", "%H:%M", "%H:%M:%S"]
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, formats=formats, zero_formats=zero_formats))
