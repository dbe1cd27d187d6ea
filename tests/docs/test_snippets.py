"""Every Python code block of the README and of docs/*.md runs, as a reader would run it.

Rules (docs/docs-site.md, "What CI checks"):
- Each block runs in a fresh interpreter, in a temporary folder where ``avo init -o my.yaml``
  has written the starter problem, as after the quick start.
- A block whose first line names a file (``# evaluator.py``) is that file of a problem: it is
  written under that name and imported, as avo's harness loads a scorer (its
  ``if __name__ == "__main__"`` part, a peer's command line, is not run).
- Imports resolve as in a scoring container: avo's own packages, then avo's stand-ins for
  OpenEvolve's and ShinkaEvolve's helper modules.
- A block that needs what CI lacks starts with ``# requires: gpu``, ``slurm``, ``broker`` or
  ``api-key`` and is skipped, with the marker as the reason. An unknown marker fails.
- A block that starts containers (it imports ``sandbox``, ``orchestrator.benchmarking`` or
  ``orchestrator.core.evolution``) needs the Docker daemon and the sandbox image: it skips
  without them on a developer machine, and fails without them under CI=true.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from markdown_pages import REPO, CodeBlock, code_blocks, pages

SKIPPED_NEEDS = {"gpu", "slurm", "broker", "api-key"}
_REQUIRES = re.compile(r"^#\s*requires:\s*(?P<needs>[\w, -]+?)\s*$", re.M)
_FILE_BLOCK = re.compile(r"^#\s*(?P<name>[\w-]+\.py)\s*$")
_CONTAINER_MODULES = ("sandbox", "orchestrator.benchmarking", "orchestrator.core.evolution")
#: Where avo puts its OpenEvolve and ShinkaEvolve stand-ins on a scorer's path (last, so an
#: installed peer wins), as orchestrator/scoring/adapters does in the container.
_PEER_STANDINS = REPO / "orchestrator" / "scoring" / "adapters" / "compat"
BLOCK_TIMEOUT_S = 120

PYTHON_BLOCKS = [block for page in pages() for block in code_blocks(page) if block.language in ("python", "py")]


def _needs(block: CodeBlock) -> set[str]:
    """The block's ``# requires:`` markers, read from its leading comment lines."""
    needs: set[str] = set()
    for line in block.text.splitlines():
        if not line.startswith("#"):
            break
        if (marker := _REQUIRES.match(line)) is not None:
            needs.update(need.strip() for need in marker.group("needs").split(","))
    return needs


def _starts_containers(block: CodeBlock) -> bool:
    modules = set()
    for node in ast.walk(ast.parse(block.text)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return any(module == wanted or module.startswith(wanted + ".") for module in modules for wanted in _CONTAINER_MODULES)


@pytest.fixture(scope="session")
def starter_problem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files ``avo init -o my.yaml`` writes, made once and copied for each block."""
    folder = tmp_path_factory.mktemp("starter")
    subprocess.run([sys.executable, "-m", "orchestrator", "init", "-o", "my.yaml"], cwd=folder, env=_env(),
                   check=True, capture_output=True, timeout=60)
    return folder


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(_PEER_STANDINS)])
    return env


def test_the_docs_have_python_blocks_that_run() -> None:
    """The collection finds the blocks (a broken fence pattern would pass vacuously)."""
    runnable = [block for block in PYTHON_BLOCKS if not _needs(block) & SKIPPED_NEEDS]
    assert len(runnable) >= 8, [block.where for block in PYTHON_BLOCKS]
    assert any(block.page.name == "README.md" for block in runnable)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.where for block in PYTHON_BLOCKS])
def test_python_block_runs(block: CodeBlock, starter_problem: Path, tmp_path: Path,
                           request: pytest.FixtureRequest) -> None:
    needs = _needs(block)
    assert needs <= SKIPPED_NEEDS, f"{block.where}: unknown `# requires:` marker {sorted(needs - SKIPPED_NEEDS)}; " \
                                   f"known: {sorted(SKIPPED_NEEDS)}"
    if needs:
        pytest.skip(f"{block.where} requires {', '.join(sorted(needs))}")
    if _starts_containers(block):
        request.getfixturevalue("sandbox_image")  # skips without Docker here, fails without it in CI
    folder = tmp_path / "problem"
    shutil.copytree(starter_problem, folder)
    first_line = block.text.splitlines()[0] if block.text.strip() else ""
    if (named := _FILE_BLOCK.match(first_line)) is not None:
        (folder / named.group("name")).write_text(block.text, encoding="utf-8")
        module = named.group("name")[:-3]
        command = [sys.executable, "-c", f"import runpy; runpy.run_path({module + '.py'!r}, run_name={module!r})"]
    else:
        (folder / "snippet.py").write_text(block.text, encoding="utf-8")
        command = [sys.executable, "snippet.py"]
    done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    assert done.returncode == 0, f"{block.where} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
