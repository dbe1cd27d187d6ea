"""Slurm's pieces of ``avo``: ``avo runs``, and ``avo run CONFIG --slurm`` (a whole run as a batch job).

A batch run is for sites whose compute nodes reach the LLM provider: the agent
then runs on the node too, with the login environment (API keys included) that
``sbatch`` hands the job. Its calls run as steps of the batch job's own allocation
(``AVO_SLURM_ALLOCATION``), so the job needs no holder and ends with the run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError, LineageError
from sandbox.backends.base import LABEL_HOST, LABEL_PID, owner_alive
from sandbox.backends.slurm import ENCLOSING_ENV, QueuedJob, queued_jobs, resource_options
from sandbox.backends.slurm.allocation import output_option
from sandbox.backends.slurm.queue import submit_batch
from sandbox.backends.slurm.run_records import BatchRecord, RunRecord, load_batches, load_runs
from sandbox.backends.slurm.steps import SOURCE_ROOT, helper_python
from sandbox.slurm_policy import SlurmPolicy

console = Console()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``avo runs`` to ``avo``'s subcommands."""
    runs = subparsers.add_parser("runs", help="runs that use Slurm, and their jobs (state, reason, node)")
    runs.add_argument("config", type=Path, nargs="?", help="read sandbox.slurm.state_dir from this config")
    runs.add_argument("-n", "--last", type=int, default=20, help="how many of the most recent runs")
    runs.set_defaults(func=list_runs)


def submit_run(config: EvolutionConfig, config_path: Path, *, resume: bool, replay: Path | None) -> int:
    """Submit ``avo run CONFIG`` as one batch job with the resources of ``sandbox.slurm``."""
    from orchestrator.persistence.store import open_store

    if config.sandbox.backend != "slurm":
        raise ConfigError(f"{config_path}: avo run --slurm takes the job's resources from sandbox.slurm: "
                          "set sandbox.backend: slurm (and sandbox.slurm's partition, gres, time...)")
    if open_store(config).exists() and not resume:
        raise LineageError(f"{config.workspace_dir} already holds a lineage: pass --resume to continue it, "
                           "or set workspace_dir to another folder")
    slurm = config.sandbox.slurm
    folder = slurm.state_path / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    command = [helper_python(slurm.python), "-m", "orchestrator", "run", str(config_path.resolve())]
    command += ["--resume"] if resume else []
    command += ["--replay", str(replay.resolve())] if replay else []
    script = "\n".join([
        "#!/bin/sh",
        "# avo run --slurm: the whole run in this job; its calls are steps of this allocation.",
        f'export {ENCLOSING_ENV}="$SLURM_JOB_ID"',
        f"export PYTHONPATH={shlex.quote(str(SOURCE_ROOT))}",
        f"exec {shlex.join(command)}",
        ""])
    options = [*resource_options(config.sandbox), f"--job-name=avo-run-{config.project_name}"[:120],
               output_option(folder / "avo-run-") + "%j.log",
               f"--comment=avo-run:{socket.gethostname()}:{os.getpid()}"]
    job_id = submit_batch(options, script)
    log_path = str(folder / f"avo-run-{job_id}.log")
    BatchRecord(job_id=job_id, config=str(config_path.resolve()), workspace=str(config.workspace_dir),
                submitted=time.time(), log=log_path).save(slurm.state_path)
    console.print(f"submitted the run as Slurm job {job_id}\n  log: {log_path}\n  `avo runs` lists it; "
                  f"`scancel {job_id}` stops it (resume later with --resume)", highlight=False)
    return 0


def list_runs(args: argparse.Namespace) -> int:
    state_dir = (EvolutionConfig.from_yaml(args.config).sandbox.slurm if args.config else SlurmPolicy()).state_path
    runs = load_runs(state_dir)[-args.last:]
    batches = load_batches(state_dir)[-args.last:]
    if not runs and not batches:
        console.print(f"no runs recorded in {state_dir}", highlight=False)
        return 0
    live = queued_jobs([job for run in runs for job in run.jobs] + [batch.job_id for batch in batches])
    if batches:
        table = Table(title="batch runs (avo run --slurm)")
        for column in ("job", "submitted", "state", "config", "log"):
            table.add_column(column, overflow="fold")
        for batch in batches:
            job = live.get(batch.job_id)
            table.add_row(str(batch.job_id), _when(batch.submitted), _job_state(job) if job else "finished",
                          batch.config, batch.log)
        console.print(table)
    if runs:
        table = Table(title=f"runs with a Slurm allocation ({state_dir})")
        for column in ("run", "started", "orchestrator", "status", "jobs"):
            table.add_column(column, overflow="fold")
        for run in runs:
            jobs = "\n".join(f"{job} {_job_state(live[job]) if job in live else 'gone'}" for job in run.jobs)
            table.add_row(run.run_id, _when(run.started), f"{run.host}:{run.pid}", _status(run), jobs or "-")
        console.print(table)
    return 0


def _job_state(job: QueuedJob) -> str:
    return job.describe().split(" ", 2)[2]


def _status(run: RunRecord) -> str:
    batch = f" (in batch job {run.enclosing_job})" if run.enclosing_job is not None else ""
    if run.ended is not None:
        return f"ended {_when(run.ended)}{batch}"
    if run.enclosing_job is not None or owner_alive({LABEL_HOST: run.host, LABEL_PID: str(run.pid)}):
        return f"running{batch}"
    return "orchestrator dead"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")
