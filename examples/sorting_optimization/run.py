"""Run this example end to end: `python run.py [--replay] [--workspace DIR] [--resume]` (see examples/example_cli.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from example_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent))
