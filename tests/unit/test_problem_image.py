"""The problem image's inputs without an engine: requirement lines, tags, pip's error line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sandbox.backends.docker.images import _first_error
from sandbox.errors import PolicyError
from sandbox.policy import SandboxPolicy
from sandbox.problem_image import ProblemImage, _pip_error, _platforms, requirement_lines


def test_packages_then_the_requirements_file_without_comments(tmp_path):
    (tmp_path / "requirements.txt").write_text("# what the evaluator needs\nscipy>=1.10  # optimise\n\nsympy==1.13\n")
    policy = SandboxPolicy(packages=["networkx"], requirements=tmp_path / "requirements.txt")
    assert requirement_lines(policy) == ["networkx", "scipy>=1.10", "sympy==1.13"]


@pytest.mark.parametrize("line", ["--index-url https://elsewhere.example/simple", "-r more.txt", "-e ."])
def test_pip_options_in_the_requirements_file_are_refused(tmp_path, line):
    (tmp_path / "requirements.txt").write_text(f"scipy\n{line}\n")
    with pytest.raises(PolicyError, match=r"requirements.txt:2: pip options such as .* are not accepted"):
        requirement_lines(SandboxPolicy(requirements=tmp_path / "requirements.txt"))


@pytest.mark.parametrize("entry", ["", "  ", "--extra-index-url=https://elsewhere.example"])
def test_a_package_entry_must_be_a_requirement(entry):
    with pytest.raises(ValidationError, match="is not a package requirement"):
        SandboxPolicy(packages=[entry])


def test_the_tag_names_the_base_and_hashes_base_id_and_lines():
    image = ProblemImage(SandboxPolicy(image="avo-sandbox:cpu", packages=["scipy"]))
    tag = image.tag("sha256:aaa")
    assert tag.startswith("avo-sandbox:cpu-pkgs-") and len(tag.rsplit("-", 1)[1]) == 16
    assert image.tag("sha256:aaa") == tag and image.tag("sha256:bbb") != tag
    assert ProblemImage(SandboxPolicy(image="avo-sandbox:cpu", packages=["scipy<2"])).tag("sha256:aaa") != tag
    assert ProblemImage(SandboxPolicy(image="registry:5000/team/img", packages=["x"])).tag("i").startswith(
        "registry:5000/team/img:latest-pkgs-")
    assert ProblemImage(SandboxPolicy(image="img@sha256:0123", packages=["x"])).tag("i").startswith("avo-problem:")


def test_platforms_follow_the_images_glibc():
    assert _platforms("x86_64", "2.36")[:2] == ["manylinux_2_36_x86_64", "manylinux_2_35_x86_64"]
    assert _platforms("aarch64", "2.17")[-2:] == ["manylinux2014_aarch64", "any"]


def test_the_first_error_line_of_pip_and_of_a_build_log():
    assert _pip_error("Collecting x\nERROR: No matching distribution found for x\nERROR: second\n") == \
        "No matching distribution found for x"
    log = [{"stream": "Step 5/7 : RUN pip install\n"}, {"stream": "ERROR: x-1.0.whl is not a supported wheel\n"}]
    assert _first_error(log, "The command returned a non-zero code: 1") == "x-1.0.whl is not a supported wheel"
    assert _first_error([], "The command '/bin/sh -c python3 -m pip' returned a non-zero code: 1") == \
        "The command '/bin/sh -c python3 -m pip' returned a non-zero code: 1"
