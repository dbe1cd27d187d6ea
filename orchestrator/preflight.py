"""What ``avo run`` checks before a run starts, so that a run that cannot work fails before it
logs "run ... started", creates its workspace, or scores and commits the seed.

A wrong ``llm.base_url`` used to be found only after v0 was committed and about 40 s of
retries, ending in a message without the URL, after which a plain ``avo run`` was refused
until ``--resume``. Each check here is cheap (no container starts) and ends in one
:class:`~orchestrator.errors.AvoError` naming the fix.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError, LineageError
from orchestrator.persistence.store import open_store

__all__ = ["preflight"]


def preflight(config_path: Path, config: EvolutionConfig, *, resume: bool, local: bool = True) -> None:
    """Raise for an exported config, a scoring_class the scorer surely lacks, a lineage that needs
    ``--resume``, a missing sandbox image or a model
    endpoint that does not answer. ``local`` False (a Slurm batch run) skips the endpoint and the image:
    the compute node, not this host, calls the model and runs the containers."""
    from orchestrator.report.export import is_exported

    if is_exported(config_path):
        raise ConfigError(f"{config_path} is the config of an exported run (`avo export`): read it with "
                          f"`avo report|status|lineage {config_path}`; to evolve further, run the original config "
                          "(an export has no work tree and its secrets are REDACTED)")
    from orchestrator.doctor import misnamed_scoring_class

    misnamed = misnamed_scoring_class(config)
    if misnamed:
        raise ConfigError(f"{config_path}: {misnamed}")
    if not resume and open_store(config).exists():
        raise LineageError(f"{config.workspace_dir} already holds a lineage: pass --resume to continue it, "
                           "or set workspace_dir to another folder")
    if not local:
        return
    _image_present(config)
    _endpoint_answers(config)


def _image_present(config: EvolutionConfig) -> None:
    """The docker backend's image (the base of a problem image, which the run builds itself)."""
    if config.sandbox.backend != "docker":
        return
    from sandbox.backends.docker import connect, require_image

    client = connect()
    try:
        require_image(client, config.sandbox.image)
    finally:
        client.close()


def _endpoint_answers(config: EvolutionConfig) -> None:
    """One request to the model list: a refused connection or key is a config error naming the URL."""
    from orchestrator.agent.factory import build_client
    from orchestrator.agent.llm_client import SdkClient

    client = build_client(config.llm)
    if isinstance(client, SdkClient):
        client.probe()
