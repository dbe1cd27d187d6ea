"""Run this example end to end: `python run.py [--replay] [--workspace DIR] [--resume]`.

The folder stands on its own: copy it anywhere to start your own problem (edit seed.py,
scorer.py and config.yaml). It needs avo installed (`make setup`, or `pip install -e .`
in avo's checkout); the command line itself is orchestrator/example_cli.py.
"""

import sys
from pathlib import Path

try:
    from orchestrator.example_cli import main
except ModuleNotFoundError as missing:
    if missing.name != "orchestrator":
        raise
    sys.exit("avo is not installed: run `make setup` (or `pip install -e .`) in avo's checkout")

if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent))
