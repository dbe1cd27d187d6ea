"""Run four scripted agents and SIGKILL the process at one commit boundary.

``python kill_driver.py CONFIG_JSON WHEN N``: WHEN is ``before`` (the N-th version is about to be
persisted) or ``after`` (it is persisted, nothing else yet). Nothing can clean up after a SIGKILL:
what is on disk is what a crashed host leaves.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from orchestrator.config import EvolutionConfig
from orchestrator.core.parallel_agents import ParallelEvolutionRunner
from orchestrator.persistence.git_backend import GitLineageStore
from scripted_agents import program, scripted_factory


def main() -> None:
    config = EvolutionConfig.model_validate(json.loads(sys.argv[1]))
    when, at = sys.argv[2], int(sys.argv[3])
    append = GitLineageStore.append
    count = {"n": 0}

    def killing_append(self, solution):
        count["n"] += 1
        if count["n"] == at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        stored = append(self, solution)
        if count["n"] == at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return stored

    GitLineageStore.append = killing_append
    scripts = {i: [program(1.0 + 0.3 * (k * 4 + i + 1), f"first run {i}-{k}") for k in range(8)] for i in range(4)}
    ParallelEvolutionRunner(config, agent_factory=scripted_factory(scripts, latency_s=0.02, think_s=0.03)).run()
    sys.exit("the run ended before the kill")


if __name__ == "__main__":
    main()
