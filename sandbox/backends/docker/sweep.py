"""Removing avo's containers by label: leftovers of crashed runs, and ``avo gc``."""

from __future__ import annotations

from collections.abc import Mapping

import docker
import docker.errors

from ..base import LABEL_OWNER, LABEL_RUN, LABEL_TENANT, owner_alive
from .engine import connect, engine_errors


def remove_labelled(client: docker.DockerClient | None = None, *, run_id: str | None = None,
                    tenant: str | None = None, stale_only: bool = False,
                    labels: Mapping[str, str] | None = None) -> int:
    """Force-remove avo's containers (all, or one run's or tenant's, or those carrying
    every one of ``labels``); returns how many.

    ``stale_only`` keeps containers whose labelling process may still be alive, so a new
    sandbox sweeping its own run never removes a sibling's in-flight containers.
    ``labels`` narrows further (the broker sweeps one session's or one instance's).
    """
    client = client or connect()
    filters = [f"{LABEL_OWNER}=avo"]
    filters += [f"{LABEL_RUN}={run_id}"] if run_id else []
    filters += [f"{LABEL_TENANT}={tenant}"] if tenant else []
    filters += [f"{name}={value}" for name, value in (labels or {}).items()]
    removed = 0
    with engine_errors():
        for found in client.api.containers(all=True, filters={"label": filters}):
            if stale_only and owner_alive(found.get("Labels") or {}):
                continue
            try:
                client.api.remove_container(found["Id"], force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
    return removed
