"""How long `avo report` takes to build, and Chromium to show, the report of runs of growing size.

Not a timed test: run it by hand (`python bench/report_build.py`). Generates synthetic runs
(a real git lineage and a run log in the runner's event shapes, see
tests/report/synthetic_run.py) up to 10,000 rejected attempts and 200 versions, then for
each prints the build time split into its phases (read the lineage and the run log, compute
the model, draw and render) and the CPU time it used (what it takes on an idle core: shared
machines inflate the wall times), the page's size, and Chromium's time to the load event and to
first contentful paint of the file opened from disk, offline, the best of three loads. The baseline, measured in the
same run, is `json.loads` of every line of that run log: the least any report of it costs.
Targets: the 10,000-attempt report builds in under 10 s and Chromium shows it in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "report")]

from browser import chromium  # noqa: E402
from synthetic_run import make_run  # noqa: E402

from orchestrator.report.build import build_report  # noqa: E402
from orchestrator.report.sources import load_run  # noqa: E402
from orchestrator.report.writer import load_config, write_html  # noqa: E402

SIZES = [(20, 5), (1000, 50), (10000, 200)]


def measure(folder: Path, attempts: int, versions: int) -> dict[str, float]:
    config_path = folder / "config.yaml"
    if not config_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_run(folder, versions=versions, attempts=attempts, sessions=3, supervisor_every=250)
    config = load_config(config_path)
    started = time.perf_counter()
    for line in config.run_log_path.read_text(encoding="utf-8").splitlines():
        json.loads(line)
    baseline = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    record = load_run(config)
    loaded = time.perf_counter()
    report = build_report(record)
    built = time.perf_counter()
    output = write_html(report, folder / "report.html")
    done, cpu = time.perf_counter(), time.process_time() - cpu
    with chromium() as browser:
        timings = []
        for _ in range(3):
            page = browser.new_context(offline=True, viewport={"width": 1280, "height": 900}).new_page()
            page.goto(output.as_uri(), wait_until="load")
            timings.append(page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                return {load: nav.loadEventEnd / 1000, fcp: paint ? paint.startTime / 1000 : null};
            }"""))
            page.context.close()
        timing = min(timings, key=lambda t: t["load"])
    return {"events": len(record.events), "baseline": baseline, "read": loaded - started, "model": built - loaded,
            "render": done - built, "total": done - started, "cpu": cpu, "mb": output.stat().st_size / 1e6,
            "load": timing["load"], "fcp": timing["fcp"] or float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the synthetic runs here (reused when present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avo-bench-report-") as scratch:
        root = args.workdir or Path(scratch)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("| attempts / versions | events | json.loads baseline s | read s | model s | figures + HTML s "
              "| build s | build CPU s | build / baseline | HTML MB | Chromium load s | first paint s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for attempts, versions in SIZES:
            row = measure(root / f"run-{attempts}-{versions}", attempts, versions)
            print(f"| {attempts:,} / {versions} | {row['events']:,} | {row['baseline']:.2f} | {row['read']:.2f} | "
                  f"{row['model']:.2f} | {row['render']:.2f} | {row['total']:.2f} | {row['cpu']:.2f} | "
                  f"{row['total'] / row['baseline']:.1f}x | {row['mb']:.2f} | {row['load']:.2f} | {row['fcp']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
