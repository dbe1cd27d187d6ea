"""A directory solution (``solution_dir``) under ``avo run --replay``: real sandbox, real git.

The solution is a folder of modules; it evolves over two versions, the first touching two
files, the second adding one. The agent's tools work on any file inside it, show_version
diffs the tree, and a link planted in the folder is refused, never followed.
"""

from __future__ import annotations

import git
import pytest

from byop import committed, events, run_avo

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("sandbox_image")]


def test_a_folder_of_modules_evolves_over_two_versions(problem, model_inputs):
    folder = problem("multi_file")
    assert run_avo(folder / "config.yaml", folder / "replay.yaml") == 0
    workspace = folder / "workspace"
    assert sorted(committed(workspace)) == [0, 1, 2]

    repo = git.Repo(workspace / "lineage")
    assert sorted(repo.git.diff("v0", "v1", "--name-only").split()) == ["kernel/helpers.py", "kernel/solve.py"]
    assert sorted(repo.git.diff("v1", "v2", "--name-only").split()) == ["kernel/closed_form.py", "kernel/solve.py"]
    assert "quicker_sum" in repo.git.show("v1:kernel/helpers.py")

    # The run ends with the work tree holding exactly v2's files: the planted link is gone.
    kernel = workspace / "work" / "kernel"
    assert sorted(p.name for p in kernel.iterdir()) == ["closed_form.py", "helpers.py", "solve.py"]
    assert (kernel / "solve.py").read_text() == repo.git.show("v2:kernel/solve.py") + "\n"

    seen = "\n".join(model_inputs)
    assert "kernel/helpers.py (" in seen and "kernel/solve.py (" in seen  # list_files inside the folder
    assert "--- v1/kernel/solve.py\n+++ current/kernel/solve.py" in seen  # show_version's tree diff
    assert "+++ current/kernel/closed_form.py" in seen
    refusals = [text for text in model_inputs if "passwd.py" in text and "refused" in text]
    assert refusals and not any("root:" in text for text in model_inputs)
    purposes = [e["purpose"] for e in events(workspace, "evaluation")]
    assert purposes == ["seed", "agent-evaluate", "rescore", "agent-evaluate", "rescore"]
