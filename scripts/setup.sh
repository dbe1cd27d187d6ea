#!/usr/bin/env bash
# Everything avo needs on a fresh Debian/Ubuntu machine, idempotently:
# the Docker engine (started without systemd when none runs), avo itself with
# its test and CPU-torch extras, and the sandbox image (`make image`).
# Each step is skipped when its result is already there, so it is cheap to rerun.
# Run as root (apt and dockerd need it); CI runs it through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v make >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io debootstrap make
fi

if ! docker info >/dev/null 2>&1; then
    # No systemd on CI machines: run the daemon in the background and wait until it answers.
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { tail -n 50 /var/log/dockerd.log; echo "dockerd did not start" >&2; exit 1; }
fi

# The `gpu` extra pins torch==2.13.0, which resolves to the CPU build on these
# machines (a plain `torch` could pull a multi-GB CUDA build); the host needs
# torch only for the attention scorer's tests and benchmark.
python3 -m pip install -q -e '.[dev,gpu]'
make image
