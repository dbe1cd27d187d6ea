"""Assemble the :class:`RunReport` of a run from its lineage and its run log."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from orchestrator.config import EvolutionConfig
from orchestrator.persistence.workspace_lock import is_held
from orchestrator.report import health, rejections, spending, timeline
from orchestrator.report.event_index import EventIndex, event_time
from orchestrator.report.model import RunHeader, RunReport, Session
from orchestrator.report.sources import RunRecord
from sandbox.policy import GpuSelection

__all__ = ["build_report"]


def build_report(record: RunRecord, *, now: datetime | None = None) -> RunReport:
    """Everything the report shows, computed from ``record`` alone (no Docker, no scorer)."""
    index = EventIndex(record.events)
    config = record.config
    models = spending.model_spending(index)
    tokens, cost, elapsed = spending.totals(index, models)
    attempts = timeline.attempts(index)
    return RunReport(
        header=_header(record, index, now or datetime.now(timezone.utc)),
        versions=timeline.versions(record.lineage, index),
        attempts=attempts,
        rejection_groups=rejections.group_rejections(attempts),
        interventions=timeline.interventions(index),
        steps=timeline.steps_with_outcome(index),
        spend=models, total_tokens=tokens, total_cost_usd=cost, elapsed_s=elapsed,
        projection=spending.projection(index, config.max_wall_time_hours, config.budget.max_total_tokens,
                                       config.budget.max_total_cost_usd),
        sandbox=health.latency(index),
        agreement=health.agreement(index),
    )


def _header(record: RunRecord, index: EventIndex, now: datetime) -> RunHeader:
    """The run's settings as its latest ``run_start`` recorded them (the config file's otherwise)."""
    config = record.config
    starts = index.kind("run_start")
    latest: dict[str, Any] = starts[-1] if starts else {}
    sessions = _sessions(index)
    running = bool(sessions) and sessions[-1].ended is None and is_held(config.workspace_dir)
    if sessions and sessions[-1].ended is None and not running:
        sessions[-1] = sessions[-1].model_copy(update={"killed": True})
    if running:
        stop_reason = "running"
    elif sessions and sessions[-1].stop_reason:
        stop_reason = sessions[-1].stop_reason
    elif sessions:
        stop_reason = "ended without a run_end event (killed?): resume with `avo run CONFIG --resume`"
    else:
        stop_reason = "no run recorded in the run log"
    return RunHeader(
        project=str(latest.get("project") or config.project_name), solution_file=config.solution_file,
        scorer=f"{config.scoring_module.name}:{config.scoring_class}",
        configurations=record.lineage.configurations, config_digest=str(latest.get("config_digest") or config.digest()),
        backend=str(latest.get("backend") or config.sandbox.backend),
        image=str(latest.get("image") or config.sandbox.image),
        runtime=str(latest.get("runtime") or config.sandbox.runtime or "runc (engine default)"),
        gpus=_gpus(latest.get("gpus", config.sandbox.gpus)), llm=str(latest.get("llm") or _llm(config)),
        min_improvement=float(latest.get("min_improvement", config.min_improvement)),
        max_versions=config.max_versions, max_wall_time_hours=config.max_wall_time_hours,
        max_total_tokens=config.budget.max_total_tokens, max_total_cost_usd=config.budget.max_total_cost_usd,
        started=sessions[0].started if sessions else index.first_time(), last_event=index.last_time(),
        running=running, stop_reason=stop_reason, sessions=sessions, event_format=index.format, generated=now,
    )


def _sessions(index: EventIndex) -> list[Session]:
    ends = {e.get("run_id"): e for e in index.kind("run_end")}
    sessions = []
    starts = index.kind("run_start")
    for number, start in enumerate(starts):
        started = event_time(start)
        if started is None:
            continue
        end = ends.get(start.get("run_id"))
        sessions.append(Session(
            run_id=str(start.get("run_id")), started=started, ended=event_time(end) if end else None,
            stop_reason=str(end.get("reason")) if end else None, resumed=bool(start.get("resume")),
            killed=end is None and number < len(starts) - 1,
        ))
    return sessions


def _gpus(value: Any) -> str:
    try:
        selection = GpuSelection.parse(value)
    except (ValueError, TypeError):
        return str(value)
    if selection.mode == "count":
        return f"{selection.count} GPU(s)"
    if selection.mode == "devices":
        return "devices " + ", ".join(selection.device_ids)
    return selection.mode


def _llm(config: EvolutionConfig) -> str:
    return f"{config.llm.provider}:{config.llm.model}"
