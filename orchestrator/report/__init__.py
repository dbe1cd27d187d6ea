"""The run report: what a run did, as one self-contained HTML file (``avo report``), a live view
in the browser (``avo report --serve``), PNG figures (``--png``) and a portable bundle
(``avo export``).

Modules, one job each: ``sources`` reads the lineage and the run log, ``build`` turns them
into the data model of ``model`` (with ``timeline``, ``rejections``, ``spending`` and
``health``), ``plots`` draws the figures, ``diffs`` highlights the diffs, ``html`` renders
the page, ``writer`` writes it, ``live`` serves it, ``export`` packs a run up and
``command_line`` adds the subcommands. The names below are imported on first use, so
``avo``'s other commands never load Matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["build_report", "export_run", "load_run", "render_html", "serve", "write_pngs", "write_report"]

_HOME = {"build_report": "build", "export_run": "export", "load_run": "sources", "render_html": "html",
         "serve": "live", "write_pngs": "plots", "write_report": "writer"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'orchestrator.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"orchestrator.report.{_HOME[name]}"), name)
