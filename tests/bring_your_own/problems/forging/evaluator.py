"""OpenEvolve's interface: runs the candidate as a subprocess (``MODE = "subprocess"``) or imports it."""

import importlib.util
import subprocess
import sys


def evaluate(program_path):
    with open(program_path) as handle:
        subprocess_mode = 'MODE = "subprocess"' in handle.read()
    if subprocess_mode:
        done = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=60, check=True)
        return {"combined_score": float(done.stdout.split()[-1])}
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"combined_score": float(module.run())}
