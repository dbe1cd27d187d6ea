"""Which GPUs a job step was given, read from the environment Slurm set for it.

Slurm's device cgroup confines the step's own processes, not the containers that
the node's dockerd starts for them: a container sees exactly the devices its
``DeviceRequest`` names. So the ids must come from the allocation, and they must be
the node's absolute indices, which is what dockerd and the NVIDIA runtime count in.

- ``SLURM_STEP_GPUS`` holds the absolute indices of the step's GPUs: used first.
- ``CUDA_VISIBLE_DEVICES`` is the fallback. Where ``ConstrainDevices=yes`` (cgroup.conf)
  hides the other devices from the step, Slurm renumbers it from 0 inside the step, so
  on such sites it is wrong for dockerd: they must keep ``SLURM_STEP_GPUS`` (Slurm sets it
  for every step with a GPU GRES); (docs/clusters.md, "GPUs: why the ids come from the allocation") says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: A device id dockerd accepts: an index, or a GPU or MIG UUID.
_DEVICE = re.compile(r"^(\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)$")
SOURCES = ("SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES")


def step_gpu_ids(env: Mapping[str, str]) -> tuple[list[str], str | None]:
    """The step's device ids and the variable they came from (``[]``, None: no GPU).

    Placeholders Slurm writes when a step has no device (``NoDevFiles``, ``N/A``) count
    as none.
    """
    for name in SOURCES:
        value = env.get(name)
        if value is None:
            continue
        ids = [part.strip() for part in value.split(",") if part.strip()]
        return [device for device in ids if _DEVICE.match(device)], name
    return [], None
