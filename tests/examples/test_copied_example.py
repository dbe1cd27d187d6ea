"""An example folder copied on its own, as users start their own problem: its `run.py` runs, and a
missing daemon or image ends in one line naming the fix, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ONE_TURN = {"turns": [{"tool_calls": [{"name": "submit", "arguments": {"rationale": "the seed, unchanged"}}]}]}

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def my_problem(tmp_path: Path) -> Path:
    """The sorting example copied to a folder of its own, far from avo's checkout."""
    tmp_path.chmod(0o755)  # when the host user is root the sandbox runs as uid 65532, which must read the scorer
    folder = tmp_path / "my_problem"
    shutil.copytree(REPO / "examples" / "sorting_optimization", folder)
    (folder / "replay.yaml").write_text(yaml.safe_dump(ONE_TURN))
    return folder


def run_py(folder: Path, **env: str) -> subprocess.CompletedProcess:
    """`python run.py --replay` in the copied folder, with avo importable as an installed package is."""
    return subprocess.run([sys.executable, "run.py", "--replay", "--workspace", str(folder / "workspace")],
                          cwd=folder, env={**os.environ, "PYTHONPATH": str(REPO), **env},
                          capture_output=True, text=True, timeout=300)


def set_image(folder: Path, image: str) -> None:
    config = folder / "config.yaml"
    config.write_text(config.read_text().replace("image: avo-sandbox:cpu", f"image: {image}"))


def test_a_copied_example_runs_end_to_end(my_problem: Path, sandbox_image: str) -> None:
    done = run_py(my_problem)
    assert done.returncode == 0, done.stderr
    assert "replay finished: best v0" in done.stdout
    assert (my_problem / "workspace" / "lineage").is_dir()


@pytest.mark.parametrize("fault, expected", [
    ("no daemon", "no Docker daemon answers"),
    ("no image", "avo-sandbox:not-built"),
])
def test_a_missing_daemon_or_image_is_one_line_not_a_traceback(my_problem: Path, docker_available: object,
                                                                fault: str, expected: str) -> None:
    if fault == "no daemon":
        done = run_py(my_problem, DOCKER_HOST=f"unix://{my_problem}/no-docker.sock")
    else:
        set_image(my_problem, "avo-sandbox:not-built")
        done = run_py(my_problem)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("avo: ") and expected in line
