"""ShinkaEvolve's interface: ``run_shinka_eval`` (the candidate in a process of its own,
``MODE = "subprocess"``) or the candidate imported into this script, as a hand-written
evaluate.py may do."""

import argparse
import importlib.util
import json
import os

from shinka.core import run_shinka_eval


def main(program_path, results_dir):
    with open(program_path) as handle:
        subprocess_mode = 'MODE = "subprocess"' in handle.read()
    if subprocess_mode:
        run_shinka_eval(program_path=program_path, results_dir=results_dir, experiment_fn_name="run", num_runs=1, get_experiment_kwargs=lambda index: {},
                        aggregate_metrics_fn=lambda results: {"combined_score": float(results[0])})
        return
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "metrics.json"), "w") as handle:
        json.dump({"combined_score": float(module.run())}, handle)
    with open(os.path.join(results_dir, "correct.json"), "w") as handle:
        json.dump({"correct": True, "error": None}, handle)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path")
    parser.add_argument("--results_dir")
    arguments = parser.parse_args()
    main(arguments.program_path, arguments.results_dir)
