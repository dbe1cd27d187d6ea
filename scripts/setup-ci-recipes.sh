#!/usr/bin/env bash
# What the tests of the CI recipes (ci/) need besides avo's `dev` extra (which brings actionlint,
# check-jsonschema and junitparser from PyPI): Debian's shellcheck, which actionlint runs on the
# workflow's `run:` scripts. Idempotent; called by scripts/setup.sh.
set -euo pipefail
if ! command -v shellcheck >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y shellcheck \
        || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y shellcheck; }
fi
