"""Secrets out of a config before it leaves the machine (``avo export``).

Works on the YAML as written, before ``${NAME}`` interpolation: a reference to an environment
variable names a secret without holding it and is kept; a literal value of a secret-looking
key (``api_key``, tokens, passwords; such names among ``sandbox.env``) becomes ``REDACTED``,
and credentials in a URL (``https://user:pass@host``) are dropped.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact"]

REDACTED = "REDACTED"
_SECRET_KEY = re.compile(r"(^|_)(api_?key|key|token|secret|password|passwd|credentials?)$", re.IGNORECASE)
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_ONLY_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def redact(value: Any, key: str = "", parent: str = "") -> Any:
    """A copy of the raw config with literal secrets replaced."""
    if isinstance(value, dict):
        return {k: redact(v, str(k), key) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key, parent) for v in value]
    if not isinstance(value, str) or not value:
        return value
    secret = bool(_SECRET_KEY.search(key)) or (parent == "env" and bool(_SECRET_ENV.search(key)))
    if secret and not _ONLY_REFERENCE.match(value):
        return REDACTED
    if "://" in value and "@" in value:
        return _without_credentials(value)
    return value


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
