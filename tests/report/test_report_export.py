"""``avo export``: the archive holds the lineage as a git bundle, the report, the run log, the
scorer and a config without its literal secret; unpacked elsewhere, with the original workspace
gone and no Docker, `avo report` rebuilds the same report from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml
from synthetic_run import make_run

from orchestrator.report.redaction import REDACTED, redact

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-literal-secret"  # the literal llm.api_key make_run writes into its config


def avo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=300, check=False)


def test_export_then_report_elsewhere_without_docker(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    config = make_run(origin, versions=4, attempts=10, supervisor_every=4, seed=6)
    archive = tmp_path / "out" / "sorted-run.tar.gz"
    done = avo("export", str(origin / "config.yaml"), str(archive), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    original_events = config.run_log_path.read_bytes()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        for member in tar.getmembers():
            if member.isfile():
                assert SECRET.encode() not in tar.extractfile(member).read(), member.name
        elsewhere = tmp_path / "elsewhere"
        tar.extractall(elsewhere, filter="data")
    for name in ("config.yaml", "report.html", "MANIFEST.sha256", "workspace/events.jsonl",
                 "workspace/lineage.bundle", "scorer/scorer.py", "seed/seed.py"):
        assert f"sorted-run/{name}" in names, name
    shutil.rmtree(origin)  # another machine: the original workspace and files are gone

    unpacked = elsewhere / "sorted-run"
    assert yaml.safe_load((unpacked / "config.yaml").read_text())["llm"]["api_key"] == REDACTED
    assert (unpacked / "workspace" / "events.jsonl").read_bytes() == original_events
    no_docker = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin"}
    rebuilt = avo("report", "config.yaml", "-o", str(tmp_path / "rebuilt.html"), cwd=unpacked, env=no_docker)
    assert rebuilt.returncode == 0, rebuilt.stderr
    page = (tmp_path / "rebuilt.html").read_text(encoding="utf-8")
    shipped = (unpacked / "report.html").read_text(encoding="utf-8")
    for html in (page, shipped):
        assert html.count('<li class="version') == 4 and 'id="version-count">4<' in html
        assert html.count('<div class="ex-head"><span class="sv">S') == 13 // 4  # one directive every 4 of 13 steps


def test_export_refuses_a_wrong_name_and_an_empty_workspace(tmp_path: Path) -> None:
    config = make_run(tmp_path, versions=2, attempts=1, seed=1)
    wrong = avo("export", str(tmp_path / "config.yaml"), str(tmp_path / "out.zip"), cwd=tmp_path)
    assert wrong.returncode == 2 and "name it OUT.tar.gz" in wrong.stderr
    shutil.rmtree(config.workspace_dir)
    empty = avo("export", str(tmp_path / "config.yaml"), str(tmp_path / "out.tar.gz"), cwd=tmp_path)
    assert empty.returncode == 2 and "nothing to export" in empty.stderr
    report = avo("report", str(tmp_path / "config.yaml"), cwd=tmp_path)
    assert report.returncode == 2 and "no run in" in report.stderr and len(report.stderr.splitlines()) == 1


def test_redaction_keeps_references_and_drops_literal_secrets() -> None:
    raw = {
        "llm": {"api_key": "sk-live", "base_url": "https://user:pw@llm.example/v1", "model": "gpt"},
        "supervisor_llm": {"api_key": "${SUPERVISOR_KEY}"},
        "budget": {"max_total_tokens": 1000},
        "sandbox": {"env": {"HF_TOKEN": "hf_abc", "WANDB_API_KEY": "${WANDB}", "MODE": "fast"}},
    }
    assert redact(raw) == {
        "llm": {"api_key": REDACTED, "base_url": "https://llm.example/v1", "model": "gpt"},
        "supervisor_llm": {"api_key": "${SUPERVISOR_KEY}"},
        "budget": {"max_total_tokens": 1000},
        "sandbox": {"env": {"HF_TOKEN": REDACTED, "WANDB_API_KEY": "${WANDB}", "MODE": "fast"}},
    }
