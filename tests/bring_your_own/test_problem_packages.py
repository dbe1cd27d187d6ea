"""Per-problem packages (``sandbox.packages``): a derived image built once per content hash, offline.

The real engine builds the image from wheels pip downloaded on the host; the run then
scores a SciPy solution in it. A second run reuses the image. A bad name is one line
with pip's error and tags nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from byop import PROBLEMS, REPO, committed, copy_problem, events, run_avo
from orchestrator.config import EvolutionConfig
from sandbox.problem_image import ProblemImage

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("sandbox_image")]


def avo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": "/tmp", "COLUMNS": "250"}, timeout=600)


def derived_tag(config_path: Path, client: docker.DockerClient) -> str:
    config = EvolutionConfig.from_yaml(config_path)
    return ProblemImage(config.sandbox).tag(client.images.get(config.sandbox.image).id)


def remove_image(client: docker.DockerClient, tag: str) -> None:
    try:
        client.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass


def scipy_problem(destination: Path) -> Path:
    folder = copy_problem("scipy_pi", destination)
    for name in ("evaluator.py", "seed.py"):
        shutil.copy(PROBLEMS / "openevolve_result" / name, folder / name)
        (folder / name).chmod(0o644)
    return folder


def test_the_image_is_built_once_reused_and_scores_a_scipy_solution(tmp_path, docker_available):
    folder = scipy_problem(tmp_path)
    tag = derived_tag(folder / "config.yaml", docker_available)
    remove_image(docker_available, tag)
    try:
        doctor = avo("doctor", str(folder / "config.yaml"))
        assert "problem image" in doctor.stdout and "avo image build" in doctor.stdout

        assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
        (first,) = events(folder / "workspace", "problem_image")
        assert first["image"] == tag and first["built"] is True
        versions = committed(folder / "workspace")
        assert sorted(versions) == [0, 1]
        assert json.loads(versions[1]["Avo-Values"])["abs_error"] > 1e12  # 1/abs_error of scipy's quad
        created = docker_available.images.get(tag).attrs["Created"]

        again = folder / "again.yaml"
        again.write_text((folder / "config.yaml").read_text() + "workspace_dir: ./second\n")
        assert run_avo(again, folder / "replay.yaml") == 0
        (second,) = events(folder / "second", "problem_image")
        assert second["image"] == tag and second["built"] is False
        assert docker_available.images.get(tag).attrs["Created"] == created
        assert sorted(committed(folder / "second")) == [0, 1]
    finally:
        remove_image(docker_available, tag)


def test_a_bad_package_is_one_line_from_pip_and_tags_nothing(tmp_path, docker_available):
    folder = scipy_problem(tmp_path)
    config = folder / "config.yaml"
    config.write_text(config.read_text().replace("packages: [scipy]", "packages: [scipy, avo-no-such-package-xyz]"))
    tag = derived_tag(config, docker_available)
    result = avo("image", "build", str(config))
    assert result.returncode == 2  # a user error, as everywhere (docs/running.md, "Exit codes")
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("avo: sandbox.packages: pip could not get scipy, avo-no-such-package-xyz")
    assert "Could not find a version that satisfies the requirement avo-no-such-package-xyz" in line
    with pytest.raises(docker.errors.ImageNotFound):
        docker_available.images.get(tag)
    status = avo("image", "status", str(config))
    assert status.returncode == 2 and "is not built: build it with `avo image build CONFIG`" in status.stderr
