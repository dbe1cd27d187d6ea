#!/usr/bin/env bash
# Download the wheels an image installs into its build context, on the host.
#
# Why on the host: builds run without network (and on some hosts HTTPS from
# inside containers is intercepted by a proxy only the host trusts), so the
# Dockerfiles install with `pip install --no-index --find-links /wheels`.
# The download is cached: it is skipped while the requirements file and the
# target Python are unchanged since the last successful run (a stamp holds them).
#
# usage: [PYTHON_VERSION=3.11] images/prepare_wheels.sh REQUIREMENTS_FILE DEST_DIR [--force]
# The CPU image runs CPython 3.11 (Debian bookworm, python:3.11); the GPU image
# runs the python3 of its Ubuntu base (3.10 for 22.04).
set -euo pipefail

requirements=${1:?requirements file}
dest=${2:?destination directory}
force=${3:-}
py=${PYTHON_VERSION:-3.11}

mkdir -p "$dest"
stamp="$dest/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1) cp${py/./}"
if [[ "$force" != "--force" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "wheels in $dest are up to date"
    exit 0
fi

python3 -m pip download --dest "$dest" --only-binary=:all: \
    --python-version "$py" --implementation cp --abi "cp${py/./}" \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any \
    -r "$requirements"
echo "$wanted" > "$stamp"
