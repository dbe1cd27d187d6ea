"""One interface over every model provider the agent can use.

``LLMClient.complete(messages, tools)`` returns an :class:`LLMResponse` with the
text, the tool calls, token usage, cost and latency, whichever provider answers:
``openai``, ``anthropic``, ``ollama`` (local), ``ollama_cloud``, ``custom`` (any
OpenAI-compatible endpoint) or ``replay`` (a YAML transcript, no network).

Every call goes through :meth:`LLMClient.complete`, which asks the client's
``meter`` (the run's budget, when the runner set one) before the call and charges
it right after: agent turns and supervisor calls alike are paid as they happen.

``SdkClient`` holds what the two official SDKs share: the API key (config first,
then the provider's environment variable), the retry policy, the mapping of SDK
exceptions to retryable or final errors, and cost accounting.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.agent.messages import LLMResponse, Message, ToolSpec
from orchestrator.agent.pricing import cost_usd
from orchestrator.agent.retry_policy import (
    RETRYABLE_STATUS,
    RetryPolicy,
    TransientLLMError,
    call_with_retries,
    retry_after_seconds,
)
from orchestrator.core.interfaces import UsageMeter
from orchestrator.errors import ConfigError, LLMError

RetryHook = Callable[[int, float, str], None]


class LLMClient(ABC):
    """A model that answers a conversation, optionally calling tools."""

    provider: str
    model: str
    #: The run's budget; None (a client used on its own) charges nothing.
    meter: UsageMeter | None = None

    @property
    def is_replay(self) -> bool:
        return False

    @property
    def label(self) -> str:
        """How the client is named in logs and the UI (replays say so)."""
        return f"{self.provider}:{self.model}"

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`LLMError` now if the client cannot work (no key, no transcript)."""

    def complete(
        self, messages: list[Message], tools: list[ToolSpec] | None = None, *, max_tokens: int | None = None
    ) -> LLMResponse:
        """One assistant turn, checked against and charged to the meter. Raises ``LLMError`` when
        retries cannot help, ``BudgetExhausted`` when the meter allows no call."""
        if self.meter is not None:
            self.meter.check()
        response = self._complete(messages, tools, max_tokens=max_tokens)
        if self.meter is not None:
            self.meter.charge(response.usage.total_tokens, response.cost_usd)
        return response

    @abstractmethod
    def _complete(
        self, messages: list[Message], tools: list[ToolSpec] | None, *, max_tokens: int | None
    ) -> LLMResponse:
        """One assistant turn from the provider."""


class SdkClient(LLMClient):
    """Common part of the SDK-backed providers: key, retries, error mapping, cost."""

    #: The SDK's status-error and connection-error classes (timeouts subclass the latter).
    status_error: type[Exception]
    connection_error: type[Exception]

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        api_key: str = "",
        key_env: str | None = None,
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int = 16384,
        timeout_s: float = 600.0,
        retry: RetryPolicy | None = None,
        prices: Mapping[str, Any] | None = None,
        on_retry: RetryHook | None = None,
        key_required: bool = True,
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = base_url
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.prices = prices or {}
        self.on_retry = on_retry
        self._key_env = key_env
        self._api_key = api_key or (os.environ.get(key_env, "") if key_env else "")
        self._key_required = key_required
        self._sdk: Any = None

    def check(self) -> None:
        if self._key_required and not self._api_key:
            where = f"llm.api_key or the {self._key_env} environment variable" if self._key_env else "llm.api_key"
            raise LLMError(f"no API key for provider '{self.provider}': set {where}")
        if self.provider == "custom" and not self.base_url:
            raise LLMError("provider 'custom' needs llm.base_url (an OpenAI-compatible endpoint, e.g. http://host:8000/v1)")

    #: The provider's model list below ``base_url``: what :meth:`probe` asks for.
    models_path = "models"

    def probe(self, timeout_s: float = 10.0) -> str:
        """One ``GET {base_url}/models``, without retries, so that a wrong ``llm.base_url`` or a refused key
        is found before a run scores or commits anything (the run's own retries would take minutes and
        end in a message without the URL). Returns the URL; raises :class:`ConfigError` naming it.
        Any other answer, a server without a model list (404, 501) included, proves the endpoint is there."""
        self.check()
        sdk = self._create_sdk(self._api_key).with_options(timeout=timeout_s, max_retries=0)
        url = f"{str(sdk.base_url).rstrip('/')}/{self.models_path}"
        try:
            sdk.models.list()
        except self.connection_error as exc:
            raise ConfigError(f"cannot reach the model endpoint {url} ({exc}): check llm.base_url and that the "
                              "server is up") from None
        except self.status_error as exc:
            status = getattr(exc, "status_code", None)
            if status in (401, 403):
                where = f"{self._key_env} or llm.api_key" if self._key_env else "llm.api_key"
                raise ConfigError(f"the model endpoint {url} refused the API key (HTTP {status}): check {where}") \
                    from None
        return url

    def _complete(
        self, messages: list[Message], tools: list[ToolSpec] | None, *, max_tokens: int | None
    ) -> LLMResponse:
        self.check()
        if self._sdk is None:
            self._sdk = self._create_sdk(self._api_key)

        def attempt() -> LLMResponse:
            started = time.monotonic()
            try:
                response = self._request(messages, tools or [], max_tokens or self.max_tokens)
            except Exception as exc:  # noqa: BLE001 - every SDK error is mapped to retryable or final
                raise self._translate(exc) from exc
            response.latency_s = time.monotonic() - started
            response.cost_usd, response.priced = cost_usd(response.usage, self.model, self.prices)
            return response

        return call_with_retries(attempt, self.retry, describe=self.label, on_retry=self.on_retry)

    @abstractmethod
    def _create_sdk(self, api_key: str) -> Any:
        """The SDK client, with its own retries disabled."""

    @abstractmethod
    def _request(self, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> LLMResponse:
        """One HTTP call; SDK exceptions propagate to :meth:`_translate`."""

    def _translate(self, exc: Exception) -> LLMError:
        """Retryable (rate limit, 5xx, timeout, dropped connection) or final with a fix."""
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, self.connection_error):
            return TransientLLMError(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, self.status_error):
            status = int(getattr(exc, "status_code", 0))
            response = getattr(exc, "response", None)
            detail = _error_detail(exc)
            if status in RETRYABLE_STATUS or status >= 500:
                headers = response.headers if response is not None else None
                return TransientLLMError(f"HTTP {status}: {detail}", retry_after=retry_after_seconds(headers))
            return LLMError(self._final_message(status, detail))
        return LLMError(f"{self.label}: unexpected {type(exc).__name__}: {_short(str(exc))}")

    def _final_message(self, status: int, detail: str) -> str:
        where = f" at {self.base_url}" if self.base_url else ""
        if status == 401:
            source = f"llm.api_key or {self._key_env}" if self._key_env else "llm.api_key"
            return f"{self.label}: the provider rejected the API key (HTTP 401: {detail}); check {source}"
        if status == 403:
            return f"{self.label}: permission denied (HTTP 403: {detail}); the key may lack access to model '{self.model}'"
        if status == 404:
            return f"{self.label}: not found (HTTP 404: {detail}); check llm.model '{self.model}' and llm.base_url{where}"
        return f"{self.label}: request refused (HTTP {status}: {detail}); fix the llm settings and resume the run"


def _error_detail(exc: Exception) -> str:
    """The provider's own error message from the response body, else the SDK's text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return _short(str(inner["message"]))
    return _short(getattr(exc, "message", "") or str(exc))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["LLMClient", "SdkClient"]
