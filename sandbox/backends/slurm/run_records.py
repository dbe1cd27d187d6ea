"""What ``avo runs`` lists: one small JSON file per run, and one per submitted batch run,
in ``sandbox.slurm.state_dir``. Job states are never stored: they are read from
``squeue`` when listed, so a record cannot go stale about them."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def _write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        temporary.replace(path)


R = TypeVar("R", bound=_Record)


class RunRecord(_Record):
    """A run that used the slurm backend: who runs it, where, and every job it held."""

    run_id: str
    host: str
    pid: int
    started: float
    ended: float | None = None
    jobs: list[int] = Field(default_factory=list)
    enclosing_job: int | None = None  # the batch job of `avo run --slurm` the run ran in
    state_dir: Path

    @property
    def path(self) -> Path:
        return self.state_dir / "runs" / self.run_id / "run.json"

    @classmethod
    def start(cls, state_dir: Path, run_id: str) -> "RunRecord":
        record = cls(run_id=run_id, host=socket.gethostname(), pid=os.getpid(), started=time.time(),
                     state_dir=state_dir)
        record._write(record.path)
        return record

    def add_job(self, job_id: int, *, enclosing: bool = False) -> None:
        self.jobs.append(job_id)
        if enclosing:
            self.enclosing_job = job_id
        self._write(self.path)

    def finish(self) -> None:
        self.ended = time.time()
        self._write(self.path)


class BatchRecord(_Record):
    """A whole run submitted as a batch job (`avo run CONFIG --slurm`)."""

    job_id: int
    config: str
    workspace: str
    submitted: float
    log: str

    @classmethod
    def path_for(cls, state_dir: Path, job_id: int) -> Path:
        return state_dir / "batch" / f"{job_id}.json"

    def save(self, state_dir: Path) -> None:
        self._write(self.path_for(state_dir, self.job_id))


def load_runs(state_dir: Path) -> list[RunRecord]:
    """Every run recorded in ``state_dir``, oldest first (unreadable files are skipped)."""
    return sorted(_load(RunRecord, (state_dir / "runs").glob("*/run.json")), key=lambda r: r.started)


def load_batches(state_dir: Path) -> list[BatchRecord]:
    """Every batch run submitted with ``state_dir``, oldest first."""
    return sorted(_load(BatchRecord, (state_dir / "batch").glob("*.json")), key=lambda r: r.submitted)


def _load(model: type[R], paths: Iterable[Path]) -> list[R]:
    records = []
    for path in paths:
        try:
            records.append(model.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return records
