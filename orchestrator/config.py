"""The run's configuration: one YAML file, validated into typed models.

Keys and defaults follow the original AVO configuration format so existing
configs keep working; ``sandbox`` (the sandbox policy) and ``budget`` are added.
Every model forbids unknown keys, and every problem a user can cause ends in one
``ConfigError`` naming the dotted key and the file, never a pydantic traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.core.solution_layout import SolutionLayout
from orchestrator.errors import ConfigError
from orchestrator.scoring.adapters.metric_mapping import MetricMapping
from sandbox.policy import SandboxPolicy

__all__ = [
    "BudgetConfig",
    "EvolutionConfig",
    "HiddenSplit",
    "LLMConfig",
    "ModelPrice",
    "ScoringConfig",
    "SupervisorConfig",
    "PROVIDER_KEY_ENV",
    "render_default_yaml",
]

#: Environment variable read when ``llm.api_key`` is empty (None: the provider needs no key).
PROVIDER_KEY_ENV: dict[str, str | None] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "ollama": None,
    "ollama_cloud": "OLLAMA_API_KEY",
    "custom": None,  # never send the user's OpenAI key to an arbitrary base_url: set llm.api_key
    "replay": None,
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelPrice(_Strict):
    """USD per million tokens, used to turn token counts into cost."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class LLMConfig(_Strict):
    """The model behind the agent and the supervisor."""

    provider: Literal["openai", "anthropic", "ollama", "ollama_cloud", "custom", "replay"] = "openai"
    model: str = "gpt-4o"
    api_key: str = ""  # empty: read from PROVIDER_KEY_ENV[provider]
    base_url: str | None = None
    temperature: float = Field(default=0.7, ge=0)
    max_tokens: int = Field(default=16384, gt=0)
    timeout_s: float = Field(default=600.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    replay_file: Path | None = None
    context_window_tokens: int = Field(default=128000, gt=0)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    @property
    def key_env_var(self) -> str | None:
        """The environment variable an empty ``api_key`` falls back to."""
        return PROVIDER_KEY_ENV[self.provider]


class SupervisorConfig(_Strict):
    """When the self-supervisor steps in."""

    enabled: bool = True
    max_failed_attempts: int = Field(default=10, ge=1)
    plateau_window: int = Field(default=20, ge=1)
    duplicate_window: int = Field(default=5, ge=1)


class BudgetConfig(_Strict):
    """Hard limits on what the run may spend; None means unlimited."""

    max_total_tokens: int | None = Field(default=None, gt=0)
    max_total_cost_usd: float | None = Field(default=None, gt=0)


class HiddenSplit(_Strict):
    """A test split the agent never sees (``scoring.hidden``).

    Every pre-commit re-score (and the seed's) also runs the scorer with ``AVO_SPLIT=hidden``
    and ``data_dir`` mounted read-only at ``/opt/avo/hidden``; the agent's own evaluations do
    not, and nothing the agent reads names a hidden configuration or value.
    """

    data_dir: Path | None = None


OPENEVOLVE_CASCADE_THRESHOLDS = (0.5, 0.75, 0.9)


class ScoringConfig(_Strict):
    """How the scorer in ``scoring_module`` is called and its results read.

    ``avo``: a ``ScoringFunction`` subclass (``scoring_class``). ``openevolve``: a module
    with ``evaluate(program_path)`` (and optionally ``evaluate_stage1/2/3``). ``shinka``:
    an ``evaluate.py`` run as ``--program_path P --results_dir D``. All three run in the
    sandbox; ``metrics`` maps a peer's metrics onto configurations and correctness.
    """

    interface: Literal["avo", "openevolve", "shinka"] = "avo"
    metrics: MetricMapping = Field(default_factory=MetricMapping)
    cascade: bool = True
    #: OpenEvolve's own default, so a problem copied from OpenEvolve cascades as it did there
    cascade_thresholds: list[float] = Field(default_factory=lambda: list(OPENEVOLVE_CASCADE_THRESHOLDS))
    context: str = ""  # shown to the agent after the scorer's own description
    hidden: HiddenSplit | None = None

    @field_validator("hidden", mode="before")
    @classmethod
    def _hidden_switch(cls, value: Any) -> Any:
        """``hidden: true`` is a split without data files (the scorer draws its hidden inputs itself)."""
        return {} if value is True else None if value is False else value

    @model_validator(mode="after")
    def _options_fit_the_interface(self) -> "ScoringConfig":
        peer_only = sorted(self.model_fields_set & {"metrics", "cascade", "cascade_thresholds"})
        if self.interface == "avo" and peer_only:
            raise ValueError(f"{', '.join(peer_only)} apply to the openevolve and shinka interfaces; "
                             "an avo scorer returns a Score itself")
        cascade = sorted(self.model_fields_set & {"cascade", "cascade_thresholds"})
        if self.interface == "shinka" and cascade:
            raise ValueError(f"{', '.join(cascade)} apply to the openevolve interface only")
        return self


class EvolutionConfig(_Strict):
    """Everything one evolution run needs. Build it with :meth:`from_yaml`."""

    project_name: str = "avo-evolution"
    workspace_dir: Path = Path("./workspace")
    solution_file: str = "solution.py"  # with solution_dir: the entry file, inside that folder
    solution_dir: str | None = None  # a folder of files evolving together (seed_file is then a folder)
    solution_max_files: int = Field(default=64, ge=1)
    solution_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    seed_file: Path
    max_versions: int = Field(default=100, ge=1)
    max_wall_time_hours: float = Field(default=168.0, gt=0)
    max_agent_steps_per_variation: int = Field(default=50, ge=1)
    min_improvement: float = Field(default=0.01, ge=0)
    # A model that gives up must not spin the loop (and the bill): back off between
    # consecutive steps without a correct candidate, stop after a run of steps without one.
    max_steps_without_candidate: int | None = Field(default=20, ge=1)
    failed_step_backoff_s: float = Field(default=1.0, ge=0)
    failed_step_backoff_max_s: float = Field(default=60.0, ge=0)
    knowledge_base_dir: Path | None = None
    scoring_module: Path
    scoring_class: str = "Scorer"
    scorer_files: list[str] = Field(default_factory=list)  # globs beside scoring_module staged with it
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    git_persist: bool = True
    llm: LLMConfig = Field(default_factory=LLMConfig)
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    sandbox: SandboxPolicy = Field(default_factory=SandboxPolicy)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    #: Coding agents varying the one lineage at once, each on its own scoring resource (a GPU of
    #: ``sandbox.gpus``, a broker lease, or a disjoint set of CPU cores); 1 is the classic loop.
    agents: int = Field(default=1, ge=1, le=64)

    @model_validator(mode="after")
    def _cost_budget_is_priced(self) -> "EvolutionConfig":
        """A dollar budget needs the model's price: without one every call costs $0 and the budget
        never stops the run (spend on a real key would be uncapped). Prices change too often to
        ship a table that would be silently wrong, so the user states the price they pay."""
        if self.budget.max_total_cost_usd is not None and self.llm.provider != "replay" \
                and self.llm.model not in self.llm.prices:
            model = self.llm.model
            raise ValueError(f"budget.max_total_cost_usd needs the price of llm.model {model!r}, and llm.prices has "
                             f"none: add llm.prices: {{{model}: {{input_per_mtok: N, output_per_mtok: N}}}} "
                             "(USD per million tokens, from your provider's price page), or remove the cost budget")
        return self

    @property
    def layout(self) -> SolutionLayout:
        """Where the solution lives in the work tree (one file, or the folder ``solution_dir``)."""
        folder = Path(self.solution_dir).as_posix() if self.solution_dir else None
        return SolutionLayout(entry=self.solution_file, directory=folder,
                              max_files=self.solution_max_files, max_bytes=self.solution_max_bytes)

    @property
    def work_dir(self) -> Path:
        """The agent's tree, mounted read-write in the sandbox."""
        return self.workspace_dir / "work"

    @property
    def lineage_dir(self) -> Path:
        """The host-only git repository of committed versions; never mounted."""
        return self.workspace_dir / "lineage"

    @property
    def lineage_json_path(self) -> Path:
        """Where the lineage lives when ``git_persist`` is false."""
        return self.workspace_dir / "lineage.json"

    @property
    def run_log_path(self) -> Path:
        return self.workspace_dir / "events.jsonl"

    @classmethod
    def from_yaml(cls, path: str | Path) -> "EvolutionConfig":
        """Load, interpolate ``${VAR}``, validate, anchor relative paths at the file's folder."""
        path = Path(path)
        try:
            with path.open(encoding="utf-8") as stream:  # a stream, so YAML errors name the file, not "<unicode string>"
                raw = yaml.safe_load(stream)
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found (create one with `avo init -o {path}`)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the config must be a mapping of keys (see `avo init`)")
        data = _interpolate(raw, path, ())
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {describe_validation_error(exc, cls)}") from None
        config = config.anchored_at(path.resolve().parent)
        config.check_files(path)
        return config

    def anchored_at(self, base: Path) -> "EvolutionConfig":
        """A copy whose relative paths are taken from ``base`` (the YAML file's folder)."""

        def at(value: Path | None) -> Path | None:
            if value is None:
                return None
            value = value.expanduser()
            return value if value.is_absolute() else (base / value).resolve()

        mounts = [m.model_copy(update={"host": at(m.host)}) for m in self.sandbox.read_only_mounts]
        sandbox = {"read_only_mounts": mounts, "requirements": at(self.sandbox.requirements)}
        hidden = self.scoring.hidden
        scoring = self.scoring.model_copy(
            update={"hidden": hidden.model_copy(update={"data_dir": at(hidden.data_dir)}) if hidden else None})
        return self.model_copy(
            update={
                "workspace_dir": at(self.workspace_dir),
                "seed_file": at(self.seed_file),
                "scoring_module": at(self.scoring_module),
                "knowledge_base_dir": at(self.knowledge_base_dir),
                "llm": self.llm.model_copy(update={"replay_file": at(self.llm.replay_file)}),
                "sandbox": self.sandbox.model_copy(update=sandbox),
                "scoring": scoring,
            }
        )

    def digest(self) -> str:
        """A short fingerprint of the settings (the API key left out), to tell runs' configs apart."""
        settings = self.model_dump_json(exclude={"llm": {"api_key"}})
        return hashlib.sha256(settings.encode("utf-8")).hexdigest()[:12]

    def with_replay(self, transcript: Path) -> "EvolutionConfig":
        """A copy whose agent plays ``transcript`` (provider ``replay``) instead of calling a model."""
        llm = self.llm.model_copy(update={"provider": "replay", "replay_file": Path(transcript).resolve()})
        return self.model_copy(update={"llm": llm})

    def check_files(self, source: str | Path = "config") -> None:
        """Fail early, naming the key, when a file the run needs is absent."""
        checks: list[tuple[str, Path | None, Any]] = [
            ("seed_file", self.seed_file, Path.is_dir if self.solution_dir else Path.is_file),
            ("scoring_module", self.scoring_module, Path.is_file),
            ("knowledge_base_dir", self.knowledge_base_dir, Path.is_dir),
            ("sandbox.requirements", self.sandbox.requirements, Path.is_file),
            ("scoring.hidden.data_dir", self.scoring.hidden.data_dir if self.scoring.hidden else None, Path.is_dir),
        ]
        if self.llm.provider == "replay":
            if self.llm.replay_file is None:
                raise ConfigError(f"{source}: llm.replay_file is required when llm.provider is replay")
            checks.append(("llm.replay_file", self.llm.replay_file, Path.is_file))
        for key, value, exists in checks:
            if value is not None and not exists(value):
                raise ConfigError(f"{source}: {key}: not found: {value}")
        if self.scoring_module.suffix != ".py":
            raise ConfigError(f"{source}: scoring_module must be a .py file, got {self.scoring_module}")
        if Path(self.solution_file).is_absolute() or ".." in Path(self.solution_file).parts:
            raise ConfigError(f"{source}: solution_file must be a plain relative path, got {self.solution_file!r}")
        folder = Path(self.solution_dir) if self.solution_dir is not None else None
        if folder is not None and (folder.is_absolute() or ".." in folder.parts or folder.as_posix() in ("", ".")):
            raise ConfigError(f"{source}: solution_dir must be a plain relative folder inside the work tree "
                              f"(e.g. kernel/), got {self.solution_dir!r}")
        hidden = self.scoring.hidden.data_dir if self.scoring.hidden else None
        for key, folder in (("workspace_dir", self.workspace_dir), ("knowledge_base_dir", self.knowledge_base_dir)):
            if hidden is not None and folder is not None and hidden.resolve().is_relative_to(folder.resolve()):
                raise ConfigError(f"{source}: scoring.hidden.data_dir lies inside {key}, where the agent can read "
                                  "it: keep hidden data next to the scorer")


def _interpolate(value: Any, path: Path, loc: tuple[str, ...]) -> Any:
    """Replace ``${NAME}`` in every string with the environment variable's value."""
    if isinstance(value, dict):
        return {k: _interpolate(v, path, (*loc, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path, (*loc, str(i))) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{path}: {'.'.join(loc)}: environment variable {name} is not set (export it, or edit the key)")
        return os.environ[name]

    return _ENV_REF.sub(lookup, value)


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line per problem: the dotted key, what is wrong, and a suggestion for typos."""
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc)
        if error["type"] == "extra_forbidden":
            known = _field_names_at(model, loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean '{'.'.join((*loc[:-1], close[0]))}'?)" if close else ""
            problems.append(f"unknown key '{key}'{hint}")
        elif error["type"] == "missing":
            problems.append(f"required key '{key}' is missing")
        elif not loc and error["type"] == "value_error":  # a check across keys: its message names them
            problems.append(str(error.get("ctx", {}).get("error", error["msg"])))
        else:
            given = error.get("input")
            shown = f" (got {given!r})" if not isinstance(given, (dict, list)) else ""
            problems.append(f"key '{key}': {error['msg']}{shown}")
    return "; ".join(problems)


def _field_names_at(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """The keys the model accepts at a nested location (for close-match suggestions)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if part.isdigit():
            continue
        field = current.model_fields.get(part)
        current = _model_in(field.annotation) if field else None
    return list(current.model_fields) if current else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


def render_default_yaml() -> str:
    """A commented config with every key at its default, valid once the two files exist, except
    that a first run is capped: an hour of wall time and $2 of the priced default model."""
    return _DEFAULT_YAML


_DEFAULT_YAML = """\
# avo configuration. Relative paths are taken from this file's folder;
# ${NAME} is replaced by the environment variable NAME (for secrets).

project_name: avo-evolution
workspace_dir: ./workspace        # work/ (agent's tree), lineage/ (git), events.jsonl
solution_file: solution.py        # the file the agent evolves, inside work/
solution_dir: null                # or a folder of files evolving together (e.g. kernel/; seed_file is then a folder
                                  # and solution_file its entry file); capped by solution_max_files/_bytes
solution_max_files: 64
solution_max_bytes: 4194304
seed_file: seed.py                # required: the starting solution, committed as v0
scoring_module: scorer.py         # required: defines the scoring class below
scoring_class: Scorer             # class Scorer(ScoringFunction) in scoring_module
scorer_files: []                  # files the scorer reads (globs beside it, e.g. [data/*.json]); only
                                  # these and scoring_module are copied into scoring containers
scoring:
  interface: avo                  # avo | openevolve (evaluator.py) | shinka (evaluate.py)
  context: ""                     # extra text for the agent about the task
  # for openevolve and shinka: which metrics are configurations, which are lower-is-better,
  # which flag decides correctness (default: validity, or no error; shinka: correct.json)
  # metrics: {configurations: [combined_score], lower_is_better: [], correctness: null}
knowledge_base_dir: null          # optional folder of docs and reference code
max_versions: 100                 # stop after this many committed versions beyond v0
max_wall_time_hours: 1.0          # a first run stops after an hour; raise it once the loop works
max_agent_steps_per_variation: 50
min_improvement: 0.01             # a candidate must beat the best by this relative margin
max_steps_without_candidate: 20   # stop after this many steps in a row without a submitted candidate (null: never)
failed_step_backoff_s: 1.0        # pause after a step without a correct candidate; doubles while they go on
failed_step_backoff_max_s: 60.0   # the longest such pause
git_persist: true                 # false: keep the lineage in lineage.json instead of git

llm:
  provider: openai                # openai | anthropic | ollama | ollama_cloud | custom | replay
  model: gpt-4o
  api_key: ""                     # empty: read OPENAI_API_KEY / ANTHROPIC_API_KEY / OLLAMA_API_KEY
  base_url: null
  temperature: 0.7
  max_tokens: 16384
  timeout_s: 600.0
  max_retries: 6
  replay_file: null               # with provider replay: a recorded transcript
  context_window_tokens: 128000
  prices:                         # USD per million tokens, per model: what a cost budget counts (check your
    gpt-4o: {input_per_mtok: 2.5, output_per_mtok: 10.0}   # provider's price page); a budget needs llm.model here

supervisor:
  enabled: true
  max_failed_attempts: 10         # redirect after this many failed steps in a row
  plateau_window: 20
  duplicate_window: 5

sandbox:                          # every shell command and scoring call runs here
  backend: docker                 # docker | broker (a multi-tenant host's avo-sandboxd) | local (no isolation, dev only)
  # broker_socket: /run/avo/sandboxd.sock   # backend: broker only
  image: avo-sandbox:cpu          # build with `avo image build`
  runtime: null                   # null (runc) | nvidia | runsc (gVisor)
  cpus: 2.0
  memory: 4g
  timeout_s: 600.0                # per call; the whole container is killed at the deadline
  gpus: none                      # none | a count (2) | device ids ("0", "0,1") | all (needs allow_all_gpus: true)
  network: none                   # none | bridge
  pool_size: 0                    # pre-started containers per purpose (lower latency)

budget:                           # the run stops when one is spent (null: no limit)
  max_total_tokens: null
  max_total_cost_usd: 2.0         # dollars, from llm.prices; refused for a model without a price

agents: 1                         # coding agents on the one lineage, each on its own GPU or cores (N x tokens)
"""
