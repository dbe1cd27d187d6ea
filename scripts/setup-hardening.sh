#!/usr/bin/env bash
# The unprivileged user the hardening tests run `avo` as (tests/unprivileged.py): attacks on
# file permissions only bite a host user without root's privileges, and CI runs as root.
# A system user in the `docker` group (as a user of the Docker socket is), no login, no home.
# Idempotent; run as root after Docker is installed (scripts/setup.sh calls it).
set -euo pipefail
getent group docker >/dev/null || groupadd --system docker
if ! id avo-e2e >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --groups docker avo-e2e
fi
id -nG avo-e2e | grep -qw docker || usermod -aG docker avo-e2e
