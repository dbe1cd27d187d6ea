"""``avo export CONFIG OUT.tar.gz``: a run packed up to read elsewhere.

The archive holds one folder named after the archive::

    NAME/config.yaml             the config, literal secrets redacted, paths pointing inside NAME/
    NAME/report.html             the self-contained report
    NAME/workspace/events.jsonl  the run log
    NAME/workspace/lineage.bundle  the lineage as a git bundle (lineage.json without git_persist)
    NAME/scorer/...              the scorer module and the files it declares
    NAME/seed/...                the seed (the config requires it)
    NAME/MANIFEST.sha256         a checksum per file

``tar xzf OUT.tar.gz && avo report NAME/config.yaml`` rebuilds the report on any machine with
git, without Docker. The agent's work tree, the scoring scratch and the knowledge base are
left out: what was committed is in the bundle.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError, LineageError
from orchestrator.persistence.git_backend import ISOLATED_GIT_ENV
from orchestrator.report.redaction import redact
from orchestrator.report.sources import BUNDLE_NAME
from orchestrator.report.writer import load_config, write_report
from orchestrator.scoring.staging import declared_files

__all__ = ["EXPORT_HEADER", "export_run", "is_exported"]

#: The first line of an exported config: what tells a run's reader it is an export, not a run to continue.
EXPORT_HEADER = "# Exported by `avo export`"

_SUFFIXES = (".tar.gz", ".tgz")


def export_run(config_path: Path, output: Path, *, workspace: Path | None = None) -> Path:
    """Write the archive of the run ``config_path`` describes (in ``workspace`` when given);
    returns ``output``."""
    config = load_config(config_path, workspace)
    name = _folder_name(output)
    with tempfile.TemporaryDirectory(prefix="avo-export-") as scratch:
        root = Path(scratch) / name
        workspace = root / "workspace"
        workspace.mkdir(parents=True)
        if config.run_log_path.is_file():
            shutil.copy2(config.run_log_path, workspace / "events.jsonl")
        if (config.lineage_dir / ".git").is_dir():
            _bundle(config.lineage_dir, workspace / BUNDLE_NAME)
        elif config.lineage_json_path.is_file():
            shutil.copy2(config.lineage_json_path, workspace / config.lineage_json_path.name)
        else:
            raise LineageError(f"no lineage in {config.workspace_dir}: nothing to export (run `avo run {config_path}` first)")
        scorer = _copy_into(root / "scorer", config.scoring_module.parent, _scorer_files(config))
        seed = _copy_into(root / "seed", config.seed_file.parent, [config.seed_file])
        replay = None
        if config.llm.provider == "replay" and config.llm.replay_file is not None:
            replay = _copy_into(root / "replay", config.llm.replay_file.parent, [config.llm.replay_file])
        raw = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
        (root / "config.yaml").write_text(_exported_config(raw, scorer[0], seed[0], replay[0] if replay else None),
                                          encoding="utf-8")
        write_report(config, root / "report.html")
        _manifest(root)
        output.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(output, "w:gz") as archive:
            archive.add(root, arcname=name, filter=_normalised)
    return output


def _folder_name(output: Path) -> str:
    name = output.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)] or "avo-run"
    raise ConfigError(f"{output}: the export is a gzipped tar file: name it OUT.tar.gz")


def _scorer_files(config: EvolutionConfig) -> list[Path]:
    """The scorer module and the files it declares: what scoring containers are given."""
    return list(declared_files(config).values())


def _copy_into(target: Path, base: Path, files: list[Path]) -> list[str]:
    """Copy ``files`` under ``target`` keeping their paths relative to ``base``; returns them relative to
    the archive's root folder."""
    copied = []
    for file in files:
        file = file if file.is_absolute() else base / file
        relative = file.resolve().relative_to(base.resolve()) if file.resolve().is_relative_to(base.resolve()) else Path(file.name)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if file.is_dir():
            shutil.copytree(file, destination, symlinks=False)
        else:
            shutil.copy2(file, destination)
        copied.append(f"{target.name}/{relative.as_posix()}")
    return copied


def _bundle(repo: Path, destination: Path) -> None:
    command = ["git", "-c", "core.hooksPath=/dev/null", "-C", str(repo), "bundle", "create", "--quiet",
               str(destination), "--all"]
    done = subprocess.run(command, env={**ISOLATED_GIT_ENV, "PATH": "/usr/local/bin:/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LineageError(f"git bundle of {repo} failed: {done.stderr.strip()}; check the lineage with `avo lineage`")


def _exported_config(raw: Any, scorer: str, seed: str, replay: str | None) -> str:
    data = redact(raw if isinstance(raw, dict) else {})
    data.update(workspace_dir="workspace", scoring_module=scorer, seed_file=seed, knowledge_base_dir=None)
    if replay is not None:
        data.setdefault("llm", {})["replay_file"] = replay
    header = (f"{EXPORT_HEADER}: literal secrets are REDACTED and paths point inside this folder.\n"
              "# Read it anywhere with git: avo report|status|lineage config.yaml (it cannot be run again)\n")
    return header + yaml.safe_dump(data, sort_keys=False)


def is_exported(config_path: Path) -> bool:
    """Whether ``config_path`` is the config of an unpacked export (its first line says so)."""
    try:
        with Path(config_path).open(encoding="utf-8") as stream:
            return stream.readline().startswith(EXPORT_HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def _manifest(root: Path) -> None:
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}")
    (root / "MANIFEST.sha256").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner names or ids of this machine in the archive."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info
