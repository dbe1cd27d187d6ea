"""A scripted LLM server on loopback speaking OpenAI Chat Completions and Anthropic Messages.

Tests script the replies in a neutral form (text, tool calls, or an HTTP error) and
the server renders each one in the wire format of the endpoint the SDK called, so the
real ``openai`` and ``anthropic`` SDKs run end to end over HTTP. Every request is
recorded, so a test can assert on exactly what the model was sent.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


@dataclass
class Reply:
    """One scripted answer: an assistant turn, or an HTTP error when ``status`` is not 200."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    input_tokens: int = 100
    output_tokens: int = 20
    drop: bool = False  # close the connection without answering


DROP = Reply(drop=True)


def say(text: str) -> Reply:
    return Reply(text=text)


def call(name: str, arguments: dict[str, Any] | str | None = None, text: str = "") -> Reply:
    """A turn with one tool call (``arguments`` as a raw string sends malformed JSON)."""
    return Reply(text=text, tool_calls=[(name, {} if arguments is None else arguments)])


def calls(*pairs: tuple[str, dict[str, Any] | str], text: str = "") -> Reply:
    return Reply(text=text, tool_calls=list(pairs))


def http_error(status: int, message: str = "scripted error", retry_after: str | None = None) -> Reply:
    return Reply(status=status, error=message, headers={"Retry-After": retry_after} if retry_after is not None else {})


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedLLMServer:
    """``with ScriptedLLMServer() as server: server.script(...)``; ``server.requests`` after."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="scripted-llm", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._replies)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "ScriptedLLMServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if not self._replies:
                return http_error(400, "scripted server: no reply scripted for this request")
            return self._replies.popleft()

    def _render(self, path: str, reply: Reply, model: str) -> dict[str, Any]:
        n = next(self._ids)
        if path == ANTHROPIC_PATH:
            if reply.status != 200:
                return {"type": "error", "error": {"type": "scripted_error", "message": reply.error}}
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
            for i, (name, args) in enumerate(reply.tool_calls):
                content.append({"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": args})
            return {
                "id": f"msg_{n}", "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": "tool_use" if reply.tool_calls else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
            }
        if reply.status != 200:
            return {"error": {"message": reply.error, "type": "scripted_error", "code": str(reply.status)}}
        tool_calls = [
            {"id": f"call_{n}_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
            "usage": {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens,
                      "total_tokens": reply.input_tokens + reply.output_tokens},
        }

    def _handler(server_self) -> type[BaseHTTPRequestHandler]:  # noqa: N805 - closes over the server
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                body = json.loads(raw or b"{}")
                if self.path not in (OPENAI_PATH, ANTHROPIC_PATH):
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                recorded = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = server_self._next(recorded)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self._send(reply.status, server_self._render(self.path, reply, body.get("model", "")), reply.headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

        return Handler
