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

# Every manylinux tag a glibc 2.35 system runs (Ubuntu 22.04; Debian bookworm has 2.36):
# pip does not widen an explicit --platform, and NVIDIA's wheels use tags like 2_27.
platforms=(--platform manylinux2014_x86_64 --platform any)
for minor in $(seq 17 35); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
python3 -m pip download --dest "$dest" --only-binary=:all: \
    --python-version "$py" --implementation cp --abi "cp${py/./}" "${platforms[@]}" \
    -r "$requirements"
echo "$wanted" > "$stamp"
