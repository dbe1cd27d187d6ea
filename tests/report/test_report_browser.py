"""The report as a user sees it: headless Chromium (Debian's, offline) opens the report of the
sorting example's replay run from disk and the test reads the DOM; the same with a synthetic
10,000-attempt, 200-version run. The screenshot of the first is what docs/report.md shows
(``AVO_UPDATE_DOCS=1`` writes it to docs/report.png)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_run import make_run

from orchestrator.persistence.git_backend import GitLineageStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SORTING_CONFIG = EXAMPLES / "sorting_optimization" / "config.yaml"
DOCS_SCREENSHOT = REPO / "docs" / "report.png"


def avo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=300, check=False)


def plot_paths(page) -> dict[str, int]:
    """Per figure, how many of its SVG paths draw something."""
    return page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('figure.chart')).map(
        f => [f.id, Array.from(f.querySelectorAll('svg path')).filter(p => (p.getAttribute('d') || '').length > 8).length]))""")


@pytest.fixture(scope="module")
def sorting_run(tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Path:
    """The sorting example played from its bundled transcript, as `bash scripts/demo.sh` does."""
    workspace = tmp_path_factory.mktemp("sorting") / "workspace"
    from orchestrator.example_cli import main

    assert main(EXAMPLES / "sorting_optimization", ["--replay", "--workspace", str(workspace)]) == 0
    return workspace


@pytest.mark.docker
@pytest.mark.slow
def test_sorting_replay_report_in_chromium(browser, sorting_run: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    done = avo("report", str(SORTING_CONFIG), "--workspace", str(sorting_run), "-o", str(tmp_path / "report.html"),
               "--png", str(figures))
    assert done.returncode == 0, done.stderr
    assert f"report: {tmp_path / 'report.html'}" in done.stdout
    for name in ("score_time", "score_versions", "sandbox"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
    lineage = GitLineageStore(sorting_run / "lineage", "solution.py").load()
    best = lineage.solutions[-1]

    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto((tmp_path / "report.html").as_uri())
    page.screenshot(path=str(tmp_path / "report.png"))  # what a user sees first (and docs/report.md shows)
    assert (tmp_path / "report.png").stat().st_size > 50_000
    if os.environ.get("AVO_UPDATE_DOCS") == "1":
        shutil.copyfile(tmp_path / "report.png", DOCS_SCREENSHOT)
    assert page.inner_text("#version-count") == str(len(lineage.solutions))
    assert page.locator("li.version").count() == len(lineage.solutions) >= 4
    assert page.inner_text("#best-score") == f"{best.aggregate:.6g}"
    assert page.inner_text("li.version.best .vtag") == f"v{best.version}"
    newest_diff = page.locator("li.version.best details.diff table.diff")
    assert newest_diff.is_visible() and newest_diff.locator("tr.add").count() > 0
    assert "sorted(" in newest_diff.inner_text()
    paths = plot_paths(page)
    assert set(paths) == {"plot-score-time", "plot-score-versions", "plot-sandbox"}, paths
    assert all(count > 10 for count in paths.values()), paths
    seed = page.locator("#v0")  # older diffs arrive as templates: the report's own script puts them in place
    assert seed.locator("table.diff").count() == 0
    seed.locator("details.diff > summary").click()
    seed.locator("table.diff").wait_for(state="visible")
    assert seed.locator("tr.add").count() == len(lineage.solutions[0].source.splitlines())
    assert page.locator("#rejected details.group").count() >= 1 and "modified its input" in page.inner_text("#rejected")
    assert page.locator("#supervisor li").count() >= 1
    assert errors == []
    page.screenshot(path=str(tmp_path / "report-full.png"), full_page=True)
    context.close()


@pytest.mark.slow
def test_ten_thousand_attempts_in_chromium(browser, tmp_path: Path) -> None:
    from orchestrator.report.writer import write_report

    config = make_run(tmp_path, versions=200, attempts=10_000, sessions=3, supervisor_every=250, seed=1)
    output = write_report(config, tmp_path / "report.html")
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(output.as_uri())
    assert page.locator("li.version").count() == 200
    assert page.inner_text("#version-count") == "200"
    assert "10,000 rejected" in page.inner_text("header.top")
    counts = page.locator("table.shares td:nth-of-type(1)").all_inner_texts()
    assert sum(int(count.replace(",", "")) for count in counts) == 10_000
    assert page.locator("#supervisor li").count() == 10_199 // 250
    assert all(count > 10 for count in plot_paths(page).values())
    assert page.locator("table.diff").count() == 3
    page.click("button[data-diffs=open]")
    page.wait_for_function("() => document.querySelectorAll('table.diff').length === 200")
    context.close()
