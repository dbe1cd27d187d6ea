"""The slurm backend: calls run as job steps in an allocation the run holds, on the node's engine.

Login side: ``backend`` (the ``Backend``), ``lease`` (the run's allocation: acquired,
shared, renewed, released), ``allocation`` (one holder job and its heartbeat),
``steps`` (one helper step per call), ``helper_step`` (the persistent helper step that
serves many calls), ``queue`` (Slurm's commands and ``squeue --json``),
``run_records`` (what ``avo runs`` lists). Node side: ``node_helper`` (one request
per step, or many through ``serve``, through the docker backend's own code), ``holder`` (the holder job's
body), ``step_gpus`` (the step's GPUs). ``wire`` is what the two sides exchange.
Nothing here imports ``docker`` at module level: the node side imports the docker
backend when it runs.
"""

from .allocation import ENCLOSING_ENV, resource_options
from .backend import SlurmBackend
from .queue import QueuedJob, queued_jobs

__all__ = ["ENCLOSING_ENV", "QueuedJob", "SlurmBackend", "queued_jobs", "resource_options"]
