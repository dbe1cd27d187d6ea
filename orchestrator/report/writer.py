"""Write a run's report file: load the run, build the model, render, write atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError
from orchestrator.report.build import build_report
from orchestrator.report.html import render_html
from orchestrator.report.model import RunReport
from orchestrator.report.sources import load_run

__all__ = ["load_config", "report_of", "write_html", "write_report"]


def load_config(path: Path, workspace: Path | None = None) -> EvolutionConfig:
    """The config at ``path``, its ``workspace_dir`` replaced by ``workspace`` when given."""
    config = EvolutionConfig.from_yaml(path)
    if workspace is None:
        return config
    return config.model_copy(update={"workspace_dir": Path(workspace).expanduser().resolve()})


def report_of(config: EvolutionConfig) -> RunReport:
    """The data model of the run in ``config.workspace_dir``."""
    return build_report(load_run(config))


def write_report(config: EvolutionConfig, output: Path) -> Path:
    """Render the report of ``config``'s run into ``output``; returns the path."""
    return write_html(report_of(config), output)


def write_html(report: RunReport, output: Path) -> Path:
    """Write the page (replaced in one rename, so a browser reloading it never reads half a file)."""
    html = render_html(report)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(html)
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {output}: {exc.strerror or exc}; choose another -o FILE") from None
    return output
