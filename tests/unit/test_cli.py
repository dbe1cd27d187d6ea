"""The CLI: init writes a valid config; user errors are one line and exit 2; views read the run log."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from fakes import FakeEvaluator, ScriptedOperator, program
from orchestrator.cli import main
from orchestrator.config import EvolutionConfig
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.run_view import RunView

REPO = Path(__file__).resolve().parents[2]


def avo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)


def test_init_writes_a_config_that_loads(tmp_path):
    assert main(["init", "-o", str(tmp_path / "cfg" / "avo.yaml")]) == 0
    config = EvolutionConfig.from_yaml(tmp_path / "cfg" / "avo.yaml")
    assert config.seed_file.read_text().startswith('"""Seed solution')
    assert main(["init", "-o", str(tmp_path / "cfg" / "avo.yaml")]) == 2


def test_a_user_error_is_one_red_line_and_status_2(tmp_path):
    (tmp_path / "bad.yaml").write_text("seed_file: s.py\nscoring_module: s.py\nmax_versoins: 3\n")
    done = avo("status", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "did you mean 'max_versions'" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_and_lineage_read_the_workspace(make_config, project, tmp_path):
    config = make_config()
    EvolutionRunner(config, operator=ScriptedOperator([program(2.0), None]), evaluator=FakeEvaluator()).run()
    (project / "avo.yaml").write_text(f"seed_file: seed.py\nscoring_module: scorer.py\nworkspace_dir: {config.workspace_dir}\n")
    status = avo("status", "avo.yaml", cwd=project)
    assert status.returncode == 0 and "best v1: aggregate 2" in status.stdout and "rejected: gave up" in status.stdout
    lineage = avo("lineage", "avo.yaml", cwd=project)
    assert lineage.returncode == 0 and "v1" in lineage.stdout and "+100.00%" in lineage.stdout


def test_the_run_view_prints_plain_lines_off_a_terminal(tmp_path):
    log = tmp_path / "events.jsonl"
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with RunView(log, console):
        with log.open("a") as handle:
            handle.write(json.dumps({"kind": "commit", "step": 1, "version": 1, "aggregate": 2.5}) + "\n")
            handle.write(json.dumps({"kind": "budget", "tokens": 5}) + "\n")
            handle.write('{"kind": "rejection", "step": 2, "rea')  # a torn line is held back
    assert out.getvalue() == "step 1: committed v1, aggregate 2.5\n"
