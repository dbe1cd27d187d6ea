"""Lineage persistence: a host-only git repository (default) or one JSON file."""

from orchestrator.persistence.store import LineageStore, open_store

__all__ = ["LineageStore", "open_store"]
