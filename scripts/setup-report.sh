#!/usr/bin/env bash
# What `avo report`'s tests need beyond avo's Python dependencies: Debian's Chromium, driven
# headless by Playwright's Python package (`executable_path`); Playwright's own browser
# downloads are never used. Idempotent: skipped when chromium is already installed.
set -euo pipefail
if ! command -v chromium >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y chromium fonts-dejavu-core
fi
