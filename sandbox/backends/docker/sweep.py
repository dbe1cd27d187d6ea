"""Removing avo's containers by label: leftovers of dead processes, and ``avo gc``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import docker
import docker.errors

from ..base import LABEL_OWNER, LABEL_RUN, LABEL_TENANT, owner_alive
from .engine import connect, engine_errors


class Swept(NamedTuple):
    """What a sweep did: containers removed, and containers kept because their process lives."""

    removed: int
    kept_alive: int


def remove_labelled(client: docker.DockerClient | None = None, *, run_id: str | None = None,
                    tenant: str | None = None, stale_only: bool = True,
                    labels: Mapping[str, str] | None = None) -> Swept:
    """Force-remove avo's containers (all, or one run's or tenant's, or those carrying
    every one of ``labels``).

    ``stale_only`` (the default) keeps containers whose labelling process may still be
    alive (see ``owner_alive``), so neither a sandbox starting up nor a plain ``avo gc``
    ever removes a live run's in-flight containers; ``stale_only=False`` removes them too
    (the broker sweeping one session or instance, a Slurm step sweeping one call).
    """
    own_client = client is None
    client = client or connect()
    filters = [f"{LABEL_OWNER}=avo"]
    filters += [f"{LABEL_RUN}={run_id}"] if run_id else []
    filters += [f"{LABEL_TENANT}={tenant}"] if tenant else []
    filters += [f"{name}={value}" for name, value in (labels or {}).items()]
    removed = kept = 0
    try:
        with engine_errors():
            for found in client.api.containers(all=True, filters={"label": filters}):
                if stale_only and owner_alive(found.get("Labels") or {}):
                    kept += 1
                    continue
                try:
                    client.api.remove_container(found["Id"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
    finally:
        if own_client:
            client.close()
    return Swept(removed, kept)
