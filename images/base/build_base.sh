#!/usr/bin/env bash
# Build the offline base image avo-base:bookworm from Debian packages.
#
# Why: hosts without container-registry access cannot pull python:3.11-slim,
# but can reach the Debian mirrors. debootstrap builds a minimal bookworm root
# (CPython 3.11) which `docker import` turns into an image; the sandbox images
# are then built FROM it. Hosts with a registry may skip this and pass
# BASE_IMAGE=python:3.11-slim to the CPU image instead.
#
# usage: images/base/build_base.sh [--force]   (skips when the image exists)
set -euo pipefail

image=${BASE_IMAGE:-avo-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,python3-pip,python3-venv,mount,procps,util-linux,iproute2

if [[ "${1:-}" != "--force" ]] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image already present (use --force to rebuild)"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "debootstrap is missing: apt-get install -y debootstrap" >&2
    exit 1
}

root=$(mktemp -d /tmp/avo-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror"
# Keep the image small: package caches and lists are useless at run time.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$image"
echo "built $image"
