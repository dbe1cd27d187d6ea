"""The lineage as a git repository: one commit per version, its score in trailers, tag ``vN``.

The repository lives in ``<workspace>/lineage``, which is never mounted into a
container, and the solution is written into it from the validated text the runner
holds, never copied from the untrusted work tree. Host git is still treated as
exposed: hooks are off (``core.hooksPath=/dev/null`` and GitPython's own hook
runner skipped), system and global git configuration are ignored, and commits and
tags are written through GitPython's object layer rather than git commands that
honour repository configuration.

The commit message ends with machine-readable trailers, so ``load()`` can rebuild
the whole lineage from git alone::

    v3: <first line of the message>

    <message>

    Avo-Version: 3
    Avo-Aggregate: 1.2345
    Avo-Values: {"n=1024": 1.2, "n=4096": 1.27}
    Avo-Passes: true
    Avo-Parent: 2
    Avo-Time: 2025-01-01T00:00:00+00:00
    Avo-Tokens: 12345
    Avo-Cost: 0.042
    Avo-Correctness: "ok"
    Avo-Duration: 3.2
    Avo-Hidden-Values: {"hidden:case_a": 0.9}   (only with a hidden split; the repository is host-only)
    Avo-Agent: 2   (only with ``agents`` > 1: the agent whose step made this version)

With one agent, ``Avo-Parent`` is the version before and ``Avo-Tokens``/``Avo-Cost`` what the run
spent since it. With ``agents`` > 1, ``Avo-Parent`` is the version the agent's step started from
(possibly older than the version before: the commit then replaces that version's code, having beaten
it in a paired re-score) and ``Avo-Tokens``/``Avo-Cost`` are what that agent's step spent.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import git
from pydantic import ValidationError

from orchestrator.scoring.score import Score
from orchestrator.core.types import Lineage, Solution, lineage_of
from orchestrator.errors import LineageError

__all__ = ["GitLineageStore", "format_message", "parse_message"]

#: Environment for every git command GitPython runs: no system/global config, no prompts.
ISOLATED_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}
#: Repository configuration written at creation: no hooks, no fsmonitor, no signing.
REPO_CONFIG = {
    ("core", "hooksPath"): os.devnull,
    ("core", "fsmonitor"): "false",
    ("commit", "gpgsign"): "false",
    ("tag", "gpgsign"): "false",
    ("user", "name"): "avo",
    ("user", "email"): "avo@localhost",
}
ACTOR = git.Actor("avo", "avo@localhost")
_TRAILER = re.compile(r"^(Avo-[A-Za-z-]+): (.*)$")


def format_message(solution: Solution) -> str:
    """Subject, the free-text message, then the trailer paragraph."""
    message = "\n".join(line.rstrip() for line in solution.message.replace("\r", "").strip().splitlines())
    subject = f"v{solution.version}: {message.splitlines()[0] if message else 'seed' if solution.version == 0 else ''}"
    trailers = {
        "Avo-Version": str(solution.version),
        "Avo-Aggregate": repr(solution.aggregate),
        "Avo-Values": json.dumps(solution.score.values),
        "Avo-Passes": "true" if solution.score.passes_correctness else "false",
        "Avo-Parent": "none" if solution.parent is None else str(solution.parent),
        "Avo-Time": solution.created_at.isoformat(),
        "Avo-Tokens": str(solution.tokens_used),
        "Avo-Cost": repr(solution.cost_usd),
        "Avo-Correctness": json.dumps(solution.score.correctness_message),
        "Avo-Duration": json.dumps(solution.score.duration_s),
    }
    if solution.agent is not None:
        trailers["Avo-Agent"] = str(solution.agent)
    if solution.hidden_values:
        trailers["Avo-Hidden-Values"] = json.dumps(solution.hidden_values)
    block = "\n".join(f"{key}: {value}" for key, value in trailers.items())
    body = f"{message}\n\n" if message else ""
    return f"{subject.strip()[:120]}\n\n{body}{block}\n"


def parse_message(text: str) -> tuple[str, dict[str, str]]:
    """``(message, trailers)`` of a commit message written by :func:`format_message`.

    Only the last paragraph is read as trailers, so a message quoting trailer-like
    lines cannot forge them.
    """
    paragraphs = text.strip().split("\n\n")
    trailers: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line)
        if match:
            trailers[match.group(1)] = match.group(2)
    return "\n\n".join(paragraphs[1:-1]), trailers


def _tree_files(commit: git.Commit, folder: str) -> dict[str, str]:
    """Every file committed under ``folder``, by its path inside it."""
    return {blob.path[len(folder) + 1:]: blob.data_stream.read().decode("utf-8")
            for blob in (commit.tree / folder).traverse() if blob.type == "blob"}


def solution_from_commit(commit: git.Commit, solution_file: str, solution_dir: str | None = None) -> Solution:
    """Rebuild one version from its commit (message trailers + the committed file, or folder)."""
    message, trailers = parse_message(str(commit.message))
    try:
        files = _tree_files(commit, solution_dir) if solution_dir else {}
        source = files[solution_file] if solution_dir else (commit.tree / solution_file).data_stream.read().decode("utf-8")
        parent = trailers["Avo-Parent"]
        duration = json.loads(trailers.get("Avo-Duration", "null"))
        score = Score(
            values=json.loads(trailers["Avo-Values"]),
            passes_correctness=trailers["Avo-Passes"] == "true",
            correctness_message=json.loads(trailers.get("Avo-Correctness", '""')),
            duration_s=duration,
        )
        return Solution(
            version=int(trailers["Avo-Version"]),
            source=source,
            score=score,
            aggregate=float(trailers["Avo-Aggregate"]),
            parent=None if parent == "none" else int(parent),
            message=message,
            created_at=datetime.fromisoformat(trailers["Avo-Time"]),
            tokens_used=int(trailers["Avo-Tokens"]),
            cost_usd=float(trailers["Avo-Cost"]),
            commit=commit.hexsha,
            hidden_values=json.loads(trailers.get("Avo-Hidden-Values", "{}")),
            files=files,
            agent=int(trailers["Avo-Agent"]) if "Avo-Agent" in trailers else None,
        )
    except (KeyError, ValueError, TypeError, ValidationError) as exc:
        raise LineageError(f"commit {commit.hexsha[:12]} is not an avo version (bad or missing trailer: {exc}); "
                           "the lineage was edited by hand: restore it or start a new workspace") from None


class GitLineageStore:
    """``LineageStore`` over a host-only git repository; a directory solution is committed as the
    folder ``solution_dir`` (``solution_file`` is then its entry file, inside it)."""

    def __init__(self, repo_dir: Path, solution_file: str, solution_dir: str | None = None) -> None:
        self.repo_dir = Path(repo_dir)
        self.solution_file = solution_file
        self.solution_dir = solution_dir

    def exists(self) -> bool:
        if not (self.repo_dir / ".git").is_dir():
            return False
        return self._open().head.is_valid()

    def load(self) -> Lineage:
        """Walk the first-parent chain from HEAD; check versions are 0..n; repair missing tags."""
        if not self.exists():
            return Lineage()
        repo = self._open()
        chain = [repo.head.commit]
        while chain[-1].parents:
            chain.append(chain[-1].parents[0])
        solutions = [solution_from_commit(commit, self.solution_file, self.solution_dir) for commit in reversed(chain)]
        tags = _tag_targets(repo)  # one listing: asking per version would be quadratic in versions
        for index, (solution, commit) in enumerate(zip(solutions, reversed(chain))):
            if solution.version != index:
                raise LineageError(f"{self.repo_dir}: commit {solution.commit} carries v{solution.version} at "
                                   f"position {index}; the history was rewritten: restore it or start a new workspace")
            if tags.get(f"v{index}") != commit.hexsha:
                self._tag(repo, index, commit)
        return lineage_of(solutions)

    def append(self, solution: Solution) -> Solution:
        """One commit holding the solution file (or folder, files no longer in it removed), then tag
        ``vN`` (re-created by load if a kill lands in between)."""
        repo = self._open(create=True)
        expected = 0
        if repo.head.is_valid():
            _, trailers = parse_message(str(repo.head.commit.message))
            expected = int(trailers.get("Avo-Version", "-1")) + 1
        if solution.version != expected:
            raise LineageError(f"{self.repo_dir}: cannot commit v{solution.version}, next is v{expected}")
        repo.index.add(self._write(repo, solution))
        commit = repo.index.commit(
            format_message(solution), author=ACTOR, committer=ACTOR,
            author_date=solution.created_at, commit_date=solution.created_at, skip_hooks=True,
        )
        self._tag(repo, solution.version, commit)
        return solution.model_copy(update={"commit": commit.hexsha})

    def _write(self, repo: git.Repo, solution: Solution) -> list[str]:
        """Write the version's files into the repository's folder; the paths to stage. The text is the
        runner's validated copy, never the untrusted work tree."""
        if self.solution_dir is None:
            files = {self.solution_file: solution.source}
        else:
            files = {f"{self.solution_dir}/{path}": text for path, text in solution.files.items()}
            previous = set(_tree_files(repo.head.commit, self.solution_dir)) if repo.head.is_valid() else set()
            gone = [f"{self.solution_dir}/{path}" for path in previous - set(solution.files)]
            if gone:
                repo.index.remove(gone, working_tree=True)
        for path, text in files.items():
            target = self.repo_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return sorted(files)

    def recover(self) -> None:
        """Drop lock files (``index.lock``, ``HEAD.lock``, ref locks) a killed commit left behind."""
        git_dir = self.repo_dir / ".git"
        if git_dir.is_dir():
            for lock in git_dir.rglob("*.lock"):
                if "objects" not in lock.relative_to(git_dir).parts:
                    lock.unlink(missing_ok=True)

    def _open(self, *, create: bool = False) -> git.Repo:
        if create and not (self.repo_dir / ".git").is_dir():
            self.repo_dir.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(self.repo_dir, env=ISOLATED_GIT_ENV)
            with repo.config_writer() as writer:
                for (section, option), value in REPO_CONFIG.items():
                    writer.set_value(section, option, value)
        try:
            repo = git.Repo(self.repo_dir)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise LineageError(f"{self.repo_dir} is not a git repository ({exc}); start a new workspace") from None
        repo.git.update_environment(**ISOLATED_GIT_ENV)
        return repo

    @staticmethod
    def _tag(repo: git.Repo, version: int, commit: git.Commit) -> None:
        git.Reference.create(repo, f"refs/tags/v{version}", commit, force=True)


def _tag_targets(repo: git.Repo) -> dict[str, str]:
    """Every tag's name and the commit it points at, from one listing of the tags (``repo.tags``
    lists them all each time it is read)."""
    targets: dict[str, str] = {}
    for tag in repo.tags:
        try:
            targets[tag.name] = tag.commit.hexsha
        except ValueError:  # a tag that points at no commit: load() re-creates it
            continue
    return targets
