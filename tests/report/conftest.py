"""Fixtures of the report's tests: a headless Chromium shared by the session, and small synthetic runs.

Chromium is Debian's package (scripts/setup-report.sh installs it); without it the browser
tests skip on a developer machine and fail under CI=true.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from browser import chromium, chromium_path  # noqa: E402
from runtimes import unavailable  # noqa: E402


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if chromium_path() is None:
        unavailable("chromium is not installed (scripts/setup-report.sh installs it)")
    with chromium() as launched:
        yield launched
