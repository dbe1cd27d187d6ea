"""``avo doctor`` for a slurm-backed policy: what the login node itself can check.

What only a node can tell (the shared filesystem, the image, dockerd) is checked
by the run at start, in a step of its allocation.
"""

from __future__ import annotations

import json
import shutil

from ...errors import SlurmError
from ...policy import SandboxPolicy
from .queue import INSTALL_FIX, run_command


def slurm_checks(policy: SandboxPolicy) -> list[tuple[str, bool, str, str]]:
    """(name, ok, detail, fix) for Slurm's commands, its controller and the partition."""
    missing = [tool for tool in ("sbatch", "srun", "squeue", "scancel") if shutil.which(tool) is None]
    if missing:
        return [("slurm commands", False, f"not on PATH: {', '.join(missing)}", INSTALL_FIX)]
    checks = [("slurm commands", True, "sbatch, srun, squeue, scancel on PATH", "")]
    try:
        meta = json.loads(run_command(["squeue", "--json", "--me"])).get("meta", {})
    except (SlurmError, ValueError) as exc:
        return [*checks, ("slurm controller", False, str(exc), "check `scontrol ping` and `squeue --json` (Slurm >= 21.08)")]
    version = meta.get("Slurm", {}).get("release") or meta.get("slurm", {}).get("release", "?")
    checks.append(("slurm controller", True, f"answers (Slurm {version})", ""))
    partition = policy.slurm.partition
    if partition:
        try:
            found = run_command(["sinfo", "-h", "-p", partition, "-o", "%P"]).split()
        except SlurmError as exc:
            found, detail = [], str(exc)
        else:
            detail = f"partition {partition} {'exists' if found else 'not found'}"
        checks.append(("slurm partition", bool(found), detail, "" if found else "set sandbox.slurm.partition to one `sinfo -s` lists"))
    checks.append(("slurm nodes", True, "the shared filesystem and the image are checked on the node when a run starts", ""))
    return checks
