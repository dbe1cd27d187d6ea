"""``avo report --serve``: refuses requests without its token on every address (any local user of a
shared host can connect to loopback), refuses other Host names on loopback (DNS rebinding), prints a
URL that opens from elsewhere when bound to 0.0.0.0; the page in Chromium shows a new commit on its own
within its refresh period (plus the time to render and reload)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from synthetic_run import make_run

from orchestrator.core.run_log import RunLog
from orchestrator.persistence.git_backend import GitLineageStore

REPO = Path(__file__).resolve().parents[2]
REFRESH_S = 2.0
#: Render of the small run and the page's reload, on a loaded 2-core machine.
RELOAD_MARGIN_S = 8.0


@contextmanager
def serving(config_path: Path, *extra: str) -> Iterator[str]:
    """`avo report CONFIG --serve --port 0 ...` in a subprocess; yields the URL it announces."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "report", str(config_path), "--serve", "--port", "0", *extra],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = process.stdout.readline()
        assert "http://" in line, (line, process.stderr.read() if process.poll() is not None else "")
        yield line.split(": ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=20)


def get(url: str, host: str | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read().decode(), dict(reply.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_live_view_follows_a_new_commit(browser, tmp_path: Path) -> None:
    config = make_run(tmp_path, versions=3, attempts=5, seed=9)
    with serving(tmp_path / "config.yaml") as url:
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        base, token = url.split("?token=")
        assert get(base)[0] == 403 and get(f"{base}state")[0] == 403  # another local user, without the URL
        assert get(f"{base}?token={'x' * len(token)}")[0] == 403
        status, body, headers = get(url)
        assert status == 200 and 'id="version-count">3<' in body
        assert "connect-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        port = base.rsplit(":", 1)[1].strip("/")
        assert get(url, host=f"attacker.example:{port}")[0] == 403
        assert get(f"{base}state?token={token}")[0] == 200

        page = browser.new_context().new_page()
        page.goto(url)
        assert page.inner_text("#version-count") == "3"
        store = GitLineageStore(config.lineage_dir, config.solution_file)
        best = store.load().solutions[-1]
        new = best.model_copy(update={"version": 3, "parent": 2, "aggregate": best.aggregate * 2, "commit": None,
                                      "message": "live: doubled", "created_at": best.created_at + timedelta(minutes=1)})
        committed = time.monotonic()
        store.append(new)
        RunLog(config.run_log_path, "run-live").emit("commit", step=99, version=3, parent=2, aggregate=new.aggregate,
                                                     values=new.score.values, message="live: doubled")
        page.wait_for_function("() => document.getElementById('version-count').textContent === '4'",
                               timeout=(REFRESH_S + RELOAD_MARGIN_S) * 1000)
        shown_after = time.monotonic() - committed
        assert page.inner_text("li.version.best .message") == "live: doubled"
        print(f"new commit shown after {shown_after:.2f} s (refresh {REFRESH_S} s)")
        page.context.close()


def test_bound_elsewhere_it_requires_the_token(tmp_path: Path) -> None:
    make_run(tmp_path, versions=2, attempts=2, seed=4)
    with serving(tmp_path / "config.yaml", "--host", "0.0.0.0") as url:
        assert "?token=" in url
        base, token = url.split("?token=")
        assert base.startswith(f"http://{socket.getfqdn()}:") and "0.0.0.0" not in url  # opens from elsewhere
        local = base.replace(socket.getfqdn(), "127.0.0.1")
        assert get(local)[0] == 403
        assert get(f"{local}?token={'x' * len(token)}")[0] == 403
        assert get(f"{local}state")[0] == 403
        status, body, _ = get(f"{local}?token={token}")
        assert status == 200 and "/state?token=" in body
