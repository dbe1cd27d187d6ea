"""What the terminal shows of a run, driven only by the run log.

The view follows ``events.jsonl`` from a thread, so it needs no hook in the loop
and shows the same thing a user later reads back with ``avo status``. On a
terminal it is a live panel (rich); otherwise (CI logs, pipes) one plain line per
notable event.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.agent_view import AgentLines

__all__ = ["RunView", "describe", "spent_text", "unpriced_calls"]

_POLL_S = 0.25


def describe(event: dict[str, Any]) -> str | None:
    """One line for an event worth showing (None for the chatty ones), naming its agent if any."""
    line = _describe(event)
    agent = event.get("agent")
    return f"agent {agent}: {line.strip()}" if line is not None and isinstance(agent, int) else line


def _describe(event: dict[str, Any]) -> str | None:
    kind = event.get("kind")
    step = event.get("step")
    if kind == "run_start":
        return f"run {event.get('run_id')} started{' (resumed)' if event.get('resume') else ''}"
    if kind == "variation_start":
        return f"step {step}: varying from v{event.get('best_version')} ({event.get('best_aggregate', 0):.6g})"
    if kind == "agent_step_start":
        return f"  agent: {event.get('llm')}"
    if kind == "agent_tool":
        state = "error" if event.get("is_error") else f"{event.get('result_chars', 0)} chars"
        return f"  {str(event.get('args') or event.get('tool'))[:120]} -> {state}"
    if kind == "evaluation":
        state = "passes" if event.get("passes") else "fails"
        return f"  evaluation ({event.get('purpose')}): {state}, aggregate {event.get('aggregate', 0):.6g}"
    if kind == "commit":
        return f"step {step}: committed v{event.get('version')}, aggregate {event.get('aggregate', 0):.6g}"
    if kind == "rejection":
        return f"step {step}: rejected: {str(event.get('reason', '')).splitlines()[0][:160]}"
    if kind == "supervisor":
        return f"step {step}: supervisor ({event.get('trigger')}): {str(event.get('text', ''))[:160]}"
    if kind == "problem_image":
        how = f"built in {event.get('seconds', 0):.0f}s" if event.get("built") else "reused"
        return f"problem image {event.get('image')}: {how}"
    if kind == "run_end":
        return f"run ended: {event.get('reason')}"
    if str(kind).startswith("slurm_"):
        return describe_slurm(event)
    return None


def unpriced_calls(events: Iterable[dict[str, Any]]) -> bool:
    """Whether some model call had no price (``llm.prices`` lacks its model), so dollars undercount.
    A replayed turn costs nothing: it is not unpriced."""
    return any(event.get("priced") is False and not event.get("replay") for event in events)


def spent_text(tokens: int, cost_usd: float, unpriced: bool) -> str:
    """Tokens and dollars; never "$0.0000" for calls that could not be priced."""
    if not unpriced:
        return f"{tokens} tokens, ${cost_usd:.4f}"
    dollars = f"${cost_usd:.4f} + " if cost_usd else ""
    return f"{tokens} tokens, {dollars}unpriced (add the model to llm.prices)"


def describe_slurm(event: dict[str, Any]) -> str | None:
    """The slurm backend's events: where the run's allocation stands in the queue."""
    kind, job = event.get("kind"), f"slurm job {event.get('job_id')}"
    if kind == "slurm_queue":
        reason = f" ({event['reason']})" if event.get("reason") else ""
        return f"{job}: {event.get('state')}{reason}"
    if kind == "slurm_allocation":
        return f"{job}: running{' on ' + event['node'] if event.get('node') else ''}"
    if kind == "slurm_node":
        return f"{job}: node {event.get('node')}, GPUs {','.join(event.get('gpus') or []) or 'none'}"
    if kind == "slurm_renewal":
        return f"{job}: {event.get('time_left_s')} s left, acquiring a new allocation"
    if kind == "slurm_lost":
        return f"{job}: ended unexpectedly, acquiring a new allocation"
    if kind == "slurm_cancelled":
        return f"{job}: cancelled by a user (scancel), the run stops; resume it with `avo run CONFIG --resume`"
    if kind == "slurm_release":
        return f"{job}: released"
    if kind == "slurm_sweep":
        return f"slurm: cancelled orphaned holder jobs {event.get('cancelled')}"
    if kind == "slurm_error":
        return f"slurm: {event.get('error')}"
    return None


class _State:
    """What the live panel shows, folded from events."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.best: float = 0.0
        self.step: int | None = None
        self.phase = "starting"
        self.llm = "-"
        self.tokens = 0
        self.cost = 0.0
        self.unpriced = False
        self.slurm: str | None = None
        self.recent: list[str] = []
        self.agents = AgentLines()

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        self.agents.apply(event)
        if kind == "commit":
            self.version, self.best = event.get("version"), event.get("aggregate", 0.0)
        elif kind == "variation_start":
            self.step, self.phase = event.get("step"), "agent working"
        elif kind == "variation_end":
            self.phase = "re-scoring the candidate" if event.get("submitted") else "step failed"
        elif kind == "agent_step_start":
            self.llm = str(event.get("llm"))
        elif unpriced_calls([event]):
            self.unpriced = True
        elif kind == "budget":
            self.tokens, self.cost = event.get("tokens", 0), event.get("cost_usd", 0.0)
        elif kind == "run_end":
            self.phase = f"finished: {event.get('reason')}"
        elif kind in ("slurm_queue", "slurm_allocation", "slurm_node", "slurm_release", "slurm_cancelled"):
            self.slurm = describe_slurm(event)
        line = describe(event)
        if line:
            self.recent = [*self.recent, line][-8:]

    def render(self) -> Group:
        table = Table.grid(padding=(0, 2))
        table.add_row("best", f"v{self.version}  {self.best:.6g}" if self.version is not None else "-")
        table.add_row("step", f"{self.step or '-'}  ({self.phase})")
        table.add_row("model", self.llm)
        table.add_row("spent", spent_text(self.tokens, self.cost, self.unpriced))
        if self.slurm:
            table.add_row("slurm", self.slurm)
        for line in self.agents.render():
            table.add_row("agent", line)
        return Group(table, Text("\n".join(self.recent), style="dim"))


class RunView:
    """Follows the run log from its current end; a context manager around ``runner.run()``."""

    def __init__(self, log_path: Path, console: Console) -> None:
        self._path = Path(log_path)
        self._console = console
        self._offset = self._path.stat().st_size if self._path.exists() else 0
        self._pending = b""
        self._state = _State()
        self._stop = threading.Event()
        self._live = Live(self._state.render(), console=console, refresh_per_second=4) if console.is_terminal else None
        self._thread = threading.Thread(target=self._follow, name="avo-run-view", daemon=True)

    def __enter__(self) -> "RunView":
        if self._live:
            self._live.start()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()
        if self._live:
            self._live.stop()

    def _follow(self) -> None:
        while not self._stop.wait(_POLL_S):
            self._drain()

    def _drain(self) -> None:
        if not self._path.exists():
            return
        with self._path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._show(event)

    def _show(self, event: dict[str, Any]) -> None:
        self._state.apply(event)
        if self._live:
            self._live.update(self._state.render())
        elif (line := describe(event)) is not None:
            self._console.print(line, highlight=False, markup=False, soft_wrap=True)
