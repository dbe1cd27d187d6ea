"""Debian's Chromium, headless and offline, driven by Playwright (never a downloaded browser).

Shared by the report's browser tests and ``bench/report_build.py``. The flags are the ones
``shared/ENVIRONMENT.md`` found to keep Chromium from reaching outside hosts; the browser
context is also put offline, so a page that tried the network would fail visibly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def chromium_path() -> str | None:
    """Debian's chromium binary (``AVO_CHROMIUM`` overrides), or None when it is not installed."""
    return os.environ.get("AVO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed: scripts/setup-report.sh installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
