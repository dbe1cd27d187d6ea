"""The formats CI systems read, for ``avo eval`` and ``avo rebench`` results.

- JUnit XML (``--junit``): GitHub, GitLab, Jenkins and Buildkite all render it; one
  test case per configuration (per version too, for rebench), failed when
  incorrect or regressed, so a red case names the configuration that broke.
- A Markdown table appended to ``$GITHUB_STEP_SUMMARY`` when that variable is set,
  shown on the job's page.
- ``::error`` / ``::warning`` workflow commands when ``GITHUB_ACTIONS=true``, which
  GitHub turns into annotations on the pull request.

Candidate-controlled text (a scorer's correctness message quotes the candidate's
exception) is escaped for each format: XML by ElementTree, table cells by
:func:`_cell`, workflow commands by :func:`_escape_data`.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from orchestrator.untrusted_text import plain

from .eval_job import EvalResult
from .measurement import describe, describe_ratio, number
from .rebench import RebenchResult

__all__ = ["JUnitCase", "JUnitSuite", "annotations", "append_step_summary", "emit", "job_error", "junit_suites",
           "markdown", "write_junit"]

_HEADINGS = {"ok": "passed", "incorrect": "FAILED: incorrect", "regressed": "FAILED: regressed"}


@dataclass(frozen=True)
class JUnitCase:
    """One test case: ``failure`` when the verdict failed it, ``error`` when the job could not judge."""

    name: str
    classname: str
    output: str
    failure: str | None = None
    failure_type: str = ""
    error: str | None = None


@dataclass(frozen=True)
class JUnitSuite:
    name: str
    cases: list[JUnitCase]
    properties: dict[str, str] = field(default_factory=dict)
    timestamp: str = ""
    hostname: str = ""


def junit_suites(result: EvalResult | RebenchResult) -> list[JUnitSuite]:
    """One suite for an eval (a case per configuration); one per version for a rebench."""
    env = result.environment
    stamp, host = env.created_at.strftime("%Y-%m-%dT%H:%M:%S"), env.host
    if isinstance(result, EvalResult):
        classname = f"avo.eval.{result.project}"
        cases = []
        for row in result.configurations:
            output = f"candidate {describe(row.candidate)}; baseline {describe(row.baseline)}; ratio {describe_ratio(row.ratio)}"
            failed = row.status in ("incorrect", "regressed")
            cases.append(JUnitCase(name=row.name, classname=classname, output=output,
                                   failure=result.summary if failed else None, failure_type=row.status))
        properties = {"verdict": result.verdict, "candidate": result.candidate.label,
                      "baseline": result.baseline.label if result.baseline else "none",
                      "aggregate": f"{result.candidate.aggregate:.6g}",
                      "aggregate_ratio": describe_ratio(result.aggregate_ratio), "rounds": str(result.rounds),
                      "tolerance": f"{result.tolerance:g}", "image": env.image}
        return [JUnitSuite(f"avo eval: {result.project}", cases, properties, stamp, host)]
    suites = []
    for version in result.versions:
        classname = f"avo.rebench.{result.project}.v{version.version}"
        fails = version.version == result.best_version and version.status in ("incorrect", "below")
        cases = []
        for name, value in version.ratios.items():
            output = (f"recorded {number(version.recorded.get(name, float('nan')))}; "
                      f"re-measured {describe(version.measured.configurations.get(name))}; ratio {describe_ratio(value)}")
            cases.append(JUnitCase(name=name, classname=classname, output=output,
                                   failure=result.summary if fails else None, failure_type=version.status))
        properties = {"status": version.status, "recorded_aggregate": f"{version.recorded_aggregate:.6g}",
                      "measured_aggregate": f"{version.measured.aggregate:.6g}",
                      "aggregate_ratio": describe_ratio(version.aggregate_ratio), "commit": version.commit or ""}
        suites.append(JUnitSuite(f"avo rebench: {result.project} v{version.version}", cases, properties, stamp, host))
    return suites


def write_junit(path: Path, suites: list[JUnitSuite]) -> None:
    """The suites as a JUnit XML file. Every text and attribute goes through :func:`plain`: a
    candidate's ``\\x01`` would make the file invalid XML 1.0, and CI would show no results."""
    root = _element(None, "testsuites", name="avo", tests=str(sum(len(s.cases) for s in suites)),
                    failures=str(sum(c.failure is not None for s in suites for c in s.cases)))
    for suite in suites:
        failures = sum(case.failure is not None for case in suite.cases)
        errors = sum(case.error is not None for case in suite.cases)
        node = _element(root, "testsuite", name=suite.name, tests=str(len(suite.cases)), failures=str(failures),
                        errors=str(errors), skipped="0", timestamp=suite.timestamp, hostname=suite.hostname)
        if suite.properties:
            properties = _element(node, "properties")
            for key, value in suite.properties.items():
                _element(properties, "property", name=key, value=value)
        for case in suite.cases:
            element = _element(node, "testcase", name=case.name, classname=case.classname)
            if case.failure is not None:
                _element(element, "failure", case.failure, message=case.failure, type=case.failure_type)
            if case.error is not None:
                _element(element, "error", case.error, message=case.error, type="error")
            _element(element, "system-out", case.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _element(parent: ElementTree.Element | None, tag: str, text: str | None = None,
             **attributes: str) -> ElementTree.Element:
    """A JUnit element whose text and attributes are :func:`plain`."""
    clean = {key: plain(value) for key, value in attributes.items()}
    element = ElementTree.Element(tag, clean) if parent is None else ElementTree.SubElement(parent, tag, clean)
    if text is not None:
        element.text = plain(text)
    return element


def markdown(result: EvalResult | RebenchResult) -> str:
    """The step summary: a heading with the verdict, the one-line summary, and the table."""
    env = result.environment
    name = "eval" if isinstance(result, EvalResult) else "rebench"
    lines = [f"### avo {name}: {_cell(result.project)}: {_HEADINGS[result.verdict]}", "", _cell(result.summary), ""]
    if isinstance(result, EvalResult):
        base = result.baseline
        lines += [f"| configuration | candidate ({_cell(result.candidate.label)}) | "
                  f"baseline ({_cell(base.label) if base else 'none'}) | ratio | status |",
                  "|---|---:|---:|---:|---|"]
        for row in result.configurations:
            lines.append(f"| {_cell(row.name)} | {describe(row.candidate)} | {describe(row.baseline)} | "
                         f"{describe_ratio(row.ratio)} | {row.status} |")
        lines.append(f"| **aggregate** | {result.candidate.describe_aggregate()} | "
                     f"{base.describe_aggregate() if base else '-'} | {describe_ratio(result.aggregate_ratio)} | "
                     f"{result.verdict} |")
    else:
        lines += ["| version | configuration | recorded | re-measured | ratio | status |",
                  "|---|---|---:|---:|---:|---|"]
        for version in result.versions:
            best = " (best)" if version.version == result.best_version else ""
            lines.append(f"| v{version.version}{best} | **aggregate** | {number(version.recorded_aggregate)} | "
                         f"{version.measured.describe_aggregate()} | {describe_ratio(version.aggregate_ratio)} | "
                         f"{version.status} |")
            for config_name, value in version.ratios.items():
                recorded = version.recorded.get(config_name)
                lines.append(f"| | {_cell(config_name)} | {'-' if recorded is None else number(recorded)} | "
                             f"{describe(version.measured.configurations.get(config_name))} | {describe_ratio(value)} | |")
    lines += ["", f"{result.rounds} round(s) in fresh containers, interleaved; tolerance {result.tolerance:.0%}; "
              f"image `{_cell(env.image)}` ({env.backend}, runtime {env.runtime or 'default'}, "
              f"GPUs {env.gpus}) on {_cell(env.host)}", ""]
    return "\n".join(lines)


def append_step_summary(text: str) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when set; returns the file written, if any."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return path


def job_error(name: str, summary: str, out: TextIO, *, junit: Path | None = None) -> None:
    """A job that could not judge: the step summary, an ``::error`` annotation and (with ``junit``)
    a JUnit file whose one case is in error say why, so the CI page shows the reason."""
    append_step_summary(f"### {name}: ERROR\n\n{_cell(summary)}\n")
    if _on_github_actions():
        emit(out, "error", f"{name}: error", summary)
    if junit is not None:
        write_junit(junit, [JUnitSuite(name, [JUnitCase(name=name, classname=name.replace(" ", "."), output="",
                                                        error=summary)])])


def annotations(result: EvalResult | RebenchResult, out: TextIO, *, file: str | None = None) -> None:
    """Workflow commands for GitHub Actions (only when ``GITHUB_ACTIONS=true``)."""
    if not _on_github_actions():
        return
    name = "avo eval" if isinstance(result, EvalResult) else "avo rebench"
    if result.verdict != "ok":
        emit(out, "error", f"{name}: {result.verdict}", result.summary, file=file)
    if isinstance(result, EvalResult):
        for row in result.configurations:
            if row.status == "slower":
                emit(out, "warning", f"{name}: {row.name} slower", f"{row.name}: {describe_ratio(row.ratio)} the baseline, "
                     f"below the {result.tolerance:.0%} tolerance (the aggregate is within it)", file=file)
    else:
        for version in result.versions:
            if version.flagged and not (version.version == result.best_version and result.verdict != "ok"):
                emit(out, "warning", f"{name}: v{version.version} does not reproduce",
                     f"v{version.version}: {version.status}, {describe_ratio(version.aggregate_ratio)} its recorded aggregate")


def emit(out: TextIO, level: str, title: str, message: str, *, file: str | None = None) -> None:
    """One ``::level file=..,title=..::message`` line, escaped as GitHub's toolkit does."""
    properties = ",".join(f"{key}={_escape_property(value)}" for key, value in (("file", file), ("title", title))
                          if value)
    out.write(f"::{level} {properties}::{_escape_data(plain(message))}\n")
    out.flush()


def _on_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(plain(text)).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell: one line, no column breaks, no raw HTML."""
    return " ".join(plain(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
