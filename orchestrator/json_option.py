"""``--json [PATH]`` for the commands scripts read (status, lineage, doctor, eval, rebench).

PATH defaults to ``-``, stdout; then stdout carries the JSON document alone, and what
the command would show a person goes to stderr, so ``avo status c.yaml --json | jq`` works.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["STDOUT", "add_json_option", "json_to_stdout", "write_json"]

STDOUT = Path("-")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, nargs="?", const=STDOUT, default=None, metavar="PATH",
                        help="write the result as JSON to PATH (default: stdout, and nothing else goes there)")


def json_to_stdout(args: argparse.Namespace) -> bool:
    return getattr(args, "json", None) == STDOUT


def write_json(path: Path, document: Any) -> None:
    """Write ``document`` (a JSON-ready value, or JSON text already) to ``path``, or stdout for ``-``."""
    text = document if isinstance(document, str) else json.dumps(document, indent=1, default=str)
    if path == STDOUT:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
