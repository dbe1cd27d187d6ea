"""Untrusted text in the report, attacked in a real Chromium.

Commit messages, diffs, rejection reasons, directives and even the model labels come from the
model, the candidate, or (for an exported run opened elsewhere) whoever wrote the run log. The
report must show them as text: no element, handler or template expression of theirs may
reach the page (Jinja2 autoescape, Pygments tokens escaped, Matplotlib's SVG text escaped).
And should markup ever slip through, the Content-Security-Policy must stop it: no script
but the report's own (by hash), no request anywhere, checked against a listener on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from synthetic_run import make_run

from orchestrator.core.run_log import RunLog
from orchestrator.persistence.git_backend import GitLineageStore
from orchestrator.report.writer import report_of, write_html

PAYLOADS = [
    '</script><script>window.__avo_pwned = "script"</script>',
    '<img src=x onerror="window.__avo_pwned = \'img\'">',
    '<svg onload="window.__avo_pwned = \'svg\'"></svg>',
    '"><iframe srcdoc="<script>parent.__avo_pwned = 1</script>"></iframe>',
    '<a href="javascript:window.__avo_pwned = 1">click</a>',
    "{{ 7 * 7 }}{% raw %}",
    "</text></svg><script>window.__avo_pwned = 'svg-text'</script>",
]
HOSTILE = "\n".join(PAYLOADS)
INJECTED = "img, iframe, object, embed, a[href^='javascript'], [onerror], [onload], [onclick], form, base, link"


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose every free-text field carries the payloads, rendered to a file."""
    root = tmp_path_factory.mktemp("hostile")
    config = make_run(root, versions=3, attempts=6, seed=2)
    store = GitLineageStore(config.lineage_dir, config.solution_file)
    best = store.load().solutions[-1]
    values = {name: value * 1.5 for name, value in best.score.values.items()}
    hostile = best.model_copy(update={
        "version": best.version + 1, "parent": best.version, "message": HOSTILE,
        "source": best.source + "\n".join(f"# {p}" for p in PAYLOADS) + '\nTEXT = """' + HOSTILE + '"""\n',
        "score": best.score.model_copy(update={"values": values, "correctness_message": HOSTILE}),
        "aggregate": best.aggregate * 1.5, "created_at": best.created_at + timedelta(minutes=5), "commit": None,
    })
    store.append(hostile)
    log = RunLog(config.run_log_path, "run-hostile")
    log.emit("run_start", project=HOSTILE, resume=True, step=99, llm=HOSTILE, image=HOSTILE)
    log.emit("variation_start", step=100, best_version=best.version, best_aggregate=best.aggregate)
    log.emit("agent_turn", step=100, turn=1, llm=HOSTILE, provider="x", model="y", input_tokens=10, output_tokens=5,
             cost_usd=0.5, priced=True, text=HOSTILE)
    log.emit("variation_end", step=100, submitted=True, rationale=HOSTILE)
    log.emit("commit", step=100, version=hostile.version, parent=best.version, aggregate=hostile.aggregate,
             values=values, message=HOSTILE)
    log.emit("variation_start", step=101, best_version=hostile.version, best_aggregate=hostile.aggregate)
    log.emit("variation_end", step=101, submitted=True, rationale=HOSTILE)
    log.emit("rejection", step=101, reason="fails correctness: " + HOSTILE, aggregate=0.0,
             values={HOSTILE: 1.0}, passes=False)
    log.emit("supervisor", step=101, trigger=HOSTILE, text=HOSTILE, tokens_used=1, cost_usd=0.0, llm=HOSTILE)
    log.emit("budget", tokens=10 ** 6, cost_usd=9.0, elapsed_s=7200.0)
    log.emit("run_end", reason=HOSTILE)
    return write_html(report_of(config), root / "report.html")


def test_hostile_text_is_escaped_in_the_file(hostile_report: Path) -> None:
    page = hostile_report.read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1, "only the report's own script"
    policy = html.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1))
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "connect-src 'none'" in policy
    for payload in PAYLOADS:
        assert "<" not in payload or payload not in page, payload
    assert "&lt;img src=x onerror=" in page
    assert "{{ 7 * 7 }}{% raw %}" in page  # shown as written: never evaluated as a template


def test_hostile_text_stays_text_in_chromium(browser, hostile_report: Path, tmp_path: Path) -> None:
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.goto(hostile_report.as_uri())
    page.wait_for_load_state("load")
    assert page.evaluate("() => window.__avo_pwned") is None
    injected = page.evaluate(f"() => Array.from(document.querySelectorAll({INJECTED!r})).map(e => e.outerHTML)")
    assert injected == []
    assert page.locator("script").count() == 1
    message = page.inner_text(".version.best .message")
    assert PAYLOADS[1] in message and "{{ 7 * 7 }}" in message, message
    assert "window.__avo_pwned" in page.inner_text("#rejected") + page.inner_text("#supervisor")
    assert PAYLOADS[0] in page.inner_text(".version.best table.diff")
    page.screenshot(path=str(tmp_path / "hostile.png"))
    context.close()


class _Listener(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Listener.hits.append(self.path)
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return


def test_the_policy_blocks_script_and_every_request(browser, hostile_report: Path) -> None:
    """What would happen to markup that got through: an inline script added to the page does not
    run, and no fetch, image or beacon reaches a listener on loopback (the context is online, so
    the policy alone stands in the way)."""
    server = HTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}"
    _Listener.hits.clear()
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    page.goto(hostile_report.as_uri())
    outcome = page.evaluate("""async (target) => {
        const script = document.createElement('script');
        script.textContent = 'window.__avo_inline = 1';
        document.body.appendChild(script);
        const image = new Image();
        image.src = target + '/image';
        document.body.appendChild(image);
        let fetched = 'blocked';
        try { await fetch(target + '/fetch'); fetched = 'reached'; } catch (error) { }
        navigator.sendBeacon(target + '/beacon', 'x');
        await new Promise(resolve => setTimeout(resolve, 500));
        return {inline: window.__avo_inline === 1, fetched};
    }""", target)
    server.shutdown()
    context.close()
    assert outcome == {"inline": False, "fetched": "blocked"}
    assert _Listener.hits == []
    assert any("Content Security Policy" in text for text in violations), violations
