#!/usr/bin/env bash
# Everything avo needs on a fresh Debian/Ubuntu machine, idempotently:
# the Docker engine (started without systemd when none runs) with gVisor's runsc
# registered as a runtime, avo itself with its test and CPU-torch extras, and the
# sandbox image (`make image`).
# Each step is skipped when its result is already there, so it is cheap to rerun.
# Run as root (apt and dockerd need it); CI runs it through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v make >/dev/null \
        || ! command -v runsc >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io debootstrap make runsc
fi

# Register gVisor with dockerd (`sandbox.runtime: runsc`; the test suite runs under it too).
# --network=none: runsc 20221219 (Debian's) takes every network namespace for the host's on
# recent kernels and refuses to start; the sandbox's default network is none anyway.
# --oci-seccomp: apply Docker's seccomp profile inside gVisor as well, as runc does.
# Prints "changed" when it rewrote daemon.json (merged: other settings are kept).
registered=$(python3 - <<'PY'
import json, pathlib
path = pathlib.Path("/etc/docker/daemon.json")
config = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
runsc = {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--oci-seccomp"]}
if config.get("runtimes", {}).get("runsc") != runsc:
    config.setdefault("runtimes", {})["runsc"] = runsc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    print("changed")
PY
)

if docker info >/dev/null 2>&1 && [ "$registered" = changed ]; then
    # Runtimes are reloadable: SIGHUP makes a running dockerd reread daemon.json without
    # stopping the containers of whoever else uses it.
    kill -HUP "$(pidof dockerd)"
    for _ in $(seq 20); do
        docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q runsc && break
        sleep 0.5
    done
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
docker info --format '{{json .Runtimes}}' | grep -q runsc || { echo "dockerd did not register runsc" >&2; exit 1; }

# The `gpu` extra pins torch==2.13.0, which resolves to the CPU build on these
# machines (a plain `torch` could pull a multi-GB CUDA build); the host needs
# torch only for the attention scorer's tests and benchmark.
python3 -m pip install -q -e '.[dev,gpu]'
scripts/setup-ci-recipes.sh
scripts/setup-report.sh   # Chromium for the report's browser tests
make image
scripts/setup-slurm.sh   # a single-node Slurm cluster (2 fake GPUs) for the slurm backend's tests
# Multi-tenant hosts: hardened dockerd, tenant users, /opt/avo/venv and the broker avo-sandboxd.
scripts/setup-broker.sh
