"""Exceptions of the orchestrator.

Every error a user can cause derives from ``AvoError`` and carries a message that
names the problem and the fix; the CLI prints it as one line, never a traceback.

- ``AvoError``: root.
- ``ConfigError``: the YAML config is invalid (unknown key, wrong type, missing file).
- ``LineageError``: the lineage on disk is inconsistent or was tampered with.
- ``WorkspaceEscape``: a path given to a host file tool leads outside the workspace.
- ``ScorerError``: the scorer itself (not the candidate) failed: import error, bad return.
- ``LLMError``: the model provider refused the run (bad key, unknown model) after retries.
- ``BudgetExhausted``: the token or cost budget is spent.
- ``ReplayExhausted``: a replay transcript has no more turns; the run ends cleanly.
- ``BenchmarkError``: ``avo eval`` / ``avo rebench`` cannot judge (no such version or file, a baseline
  that fails correctness).
"""

from __future__ import annotations


class AvoError(Exception):
    """Root of every error avo raises on purpose."""


class ConfigError(AvoError, ValueError):
    """The configuration is invalid; the message names the key and the file."""


class LineageError(AvoError, RuntimeError):
    """The lineage repository or file is inconsistent."""


class WorkspaceEscape(AvoError, PermissionError):
    """A path leads outside the workspace (absolute, '..', or through a symlink)."""


class ScorerError(AvoError, RuntimeError):
    """The user's scorer failed independently of any candidate."""


class LLMError(AvoError, RuntimeError):
    """The LLM provider failed in a way retries cannot fix."""


class BudgetExhausted(AvoError, RuntimeError):
    """The run's token or cost budget is spent."""


class ReplayExhausted(AvoError, RuntimeError):
    """The replay transcript has no more turns."""


class BenchmarkError(AvoError, RuntimeError):
    """A scoring job outside a run cannot reach a verdict; the message names what to pass instead."""
