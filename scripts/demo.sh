#!/usr/bin/env bash
# The first command of the README: set everything up (scripts/setup.sh), then run the
# sorting example end to end from its bundled replay transcript (no API key, no network;
# the scores are real, measured in the sandbox), and write its report. Each demo gets a
# fresh workspace under workspace/, so it can be rerun. The last line is the report's path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
workspace="workspace/demo-$(date +%Y%m%d-%H%M%S)"
python3 examples/sorting_optimization/run.py --replay --workspace "$workspace"
python3 -m orchestrator report examples/sorting_optimization/config.yaml --workspace "$workspace"
