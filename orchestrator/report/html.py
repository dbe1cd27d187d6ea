"""The report as one self-contained HTML file: Jinja2 template, inline CSS, inline SVG figures,
and a few lines of the report's own JavaScript.

Jinja2 renders with autoescape on for every value, so commit messages, diffs, model text and
scorer messages, all written by the model or the candidate, arrive as text, never as markup.
Pygments colours the diffs (``diffs``), escaping each token first. The page carries a
Content-Security-Policy that allows no network at all (``default-src 'none'``, no
``connect-src`` except the live view's own server) and no script but the report's own,
pinned by its SHA-256 hash, so even markup that slipped through could neither run nor
phone home. Inline styles stay allowed: the SVG figures use them, and CSS can neither run
script nor, with every fetch directive at ``'none'``, load anything.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from orchestrator.report import diffs
from orchestrator.report.model import RunReport
from orchestrator.report.plots import CATEGORY_COLORS, compact, figures
from orchestrator.report.rejections import CATEGORIES

__all__ = ["LiveOptions", "content_security_policy", "render_html"]

TEMPLATES = Path(__file__).parent / "templates"
#: Diffs shown open when the page loads (the newest versions); the others open on a click.
OPEN_DIFFS = 3
SELF, NONE = "'self'", "'none'"


class LiveOptions:
    """What the live view adds to the page: where to poll, how often, and the state it shows."""

    def __init__(self, state_url: str, refresh_s: float, state: str) -> None:
        self.state_url = state_url
        self.refresh_ms = int(refresh_s * 1000)
        self.state = state


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct, dur=_dur, when=_when, usd=_usd, count=_count, short=compact, ratio=_ratio)
    return env


@lru_cache(maxsize=1)
def _script() -> str:
    return (TEMPLATES / "report.js").read_text(encoding="utf-8")


def content_security_policy(*, live: bool) -> str:
    """No network, no script but the report's own (by hash); the live view may poll its server."""
    digest = base64.b64encode(hashlib.sha256(_script().encode("utf-8")).digest()).decode("ascii")
    return "; ".join([
        "default-src 'none'", f"script-src 'sha256-{digest}'", "style-src 'unsafe-inline'", "img-src data:",
        f"connect-src {SELF if live else NONE}", "base-uri 'none'", "form-action 'none'",
    ])


def render_html(report: RunReport, *, live: LiveOptions | None = None) -> str:
    """The whole page."""
    drawn = figures(report)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8") + diffs.css(".hl") + _category_css()
    return _environment().get_template("report.html.j2").render(
        r=report, h=report.header, live=live, csp=content_security_policy(live=live is not None),
        css=Markup(css), script=Markup(_script()), svg={name: Markup(drawn.svg(name)) for name in drawn.figures},
        version_diffs=_version_diffs(report), categories=CATEGORIES, open_diffs=OPEN_DIFFS,
    )


def _version_diffs(report: RunReport) -> dict[int, diffs.DiffView]:
    """Each version against its parent, highlighting every source once."""
    filename = report.header.solution_file
    views: dict[int, diffs.DiffView] = {}
    previous: list[Markup] | None = None
    for version in report.versions:
        lines = diffs.highlight_lines(version.source, filename)
        views[version.version] = diffs.diff(version.parent_source, version.source, filename,
                                            old_lines=previous if version.parent_source is not None else [],
                                            new_lines=lines)
        previous = lines
    return views


def _category_css() -> str:
    return "".join(f".cat-{name}{{--cat:{color}}}" for name, color in CATEGORY_COLORS.items())


def _num(value: float | None, digits: int = 6) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:+.1f}%" if abs(value) < 1000 else f"×{_ratio(value / 100 + 1)}"


def _ratio(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.1f} min"
    hours, rest = divmod(int(minutes), 60)
    return f"{hours} h {rest:02d} min"


def _when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if value >= 10 else f"${value:.4f}"


def _count(value: int | None) -> str:
    return "not recorded" if value is None else f"{value:,}"
