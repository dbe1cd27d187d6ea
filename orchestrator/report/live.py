"""``avo report --serve``: the report of a running evolution in the browser, refreshed while it runs.

A small standard-library HTTP server renders the report when the run log or the lineage
changed since the last render; the page polls ``/state`` every ``refresh_s`` seconds and
reloads itself when the state it shows is no longer the current one.

Who may read it: only who holds the URL. Every request, on every address, must carry a
random token in the URL, compared in constant time: on the shared multi-tenant hosts avo
is built for, any local user can connect to 127.0.0.1, and the report shows the run's code
and scores. Bound to 127.0.0.1 (the default) it also answers only requests whose ``Host``
names a loopback address (a web page elsewhere cannot read it through DNS rebinding).
Bound to an unspecified address (``0.0.0.0``, ``::``) the printed URL names this host, so it
opens from elsewhere. Responses carry the report's Content-Security-Policy as a header too,
with ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError
from orchestrator.report.html import LiveOptions, content_security_policy, render_html
from orchestrator.report.sources import state_key
from orchestrator.report.writer import report_of

__all__ = ["LiveReport", "is_loopback", "serve"]



class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _reachable_name(host: str) -> str:
    """What to put in the URL: the bound address, or for an unspecified one (which is no address
    a browser can open) this host's fully qualified name."""
    try:
        unspecified = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host
    return (socket.getfqdn() or socket.gethostname()) if unspecified else host


class LiveReport:
    """The rendered page, rebuilt on demand when the run has changed."""

    def __init__(self, config: EvolutionConfig, refresh_s: float, token: str) -> None:
        self.config = config
        self.refresh_s = refresh_s
        self.token = token
        self._lock = threading.Lock()
        self._state: str | None = None
        self._page = ""

    def state(self) -> str:
        return state_key(self.config)

    def page(self) -> str:
        with self._lock:
            state = self.state()
            if state != self._state:
                live = LiveOptions(f"/state?token={self.token}", self.refresh_s, state)
                self._page = render_html(report_of(self.config), live=live)
                self._state = state
            return self._page


def _handler(live: LiveReport, allowed_hosts: set[str] | None) -> type[BaseHTTPRequestHandler]:
    csp = content_security_policy(live=True) + "; frame-ancestors 'none'"

    class Handler(BaseHTTPRequestHandler):
        server_version = "avo-report"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            url = urlsplit(self.path)
            if allowed_hosts is not None and self.headers.get("Host", "").lower() not in allowed_hosts:
                return self._send(403, "text/plain", "forbidden: this report answers on loopback names only\n")
            given = parse_qs(url.query).get("token", [""])[0]
            if not hmac.compare_digest(given.encode(), live.token.encode()):
                return self._send(403, "text/plain", "forbidden: the URL's token is missing or wrong\n")
            if url.path == "/":
                return self._send(200, "text/html; charset=utf-8", live.page())
            if url.path == "/state":
                return self._send(200, "text/plain; charset=utf-8", live.state())
            return self._send(404, "text/plain", "not found\n")

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            return  # the terminal shows the URL once; requests every 2 s would drown it

    return Handler


def serve(config: EvolutionConfig, *, host: str = "127.0.0.1", port: int = 8765, refresh_s: float = 2.0,
          announce: Callable[[str], None] = print) -> None:
    """Serve the live report until interrupted; ``announce`` gets the URL to open."""
    if refresh_s <= 0:
        raise ConfigError(f"--refresh must be positive, got {refresh_s:g}")
    loopback = is_loopback(host)
    token = secrets.token_urlsafe(24)
    live = LiveReport(config, refresh_s, token)
    live.page()  # fail here, with the clear error, before announcing a URL
    try:
        server = (_Server6 if ":" in host else _Server)((host, port), _handler(live, None))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port") from None
    bound = server.server_address[1]
    if loopback:
        server.RequestHandlerClass = _handler(live, {f"{name}:{bound}" for name in ("localhost", "127.0.0.1", "[::1]")})
    shown = _reachable_name(host)
    shown = f"[{shown}]" if ":" in shown else shown
    announce(f"http://{shown}:{bound}/?token={token}")
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
