"""The policy: hardened defaults, sizes, GPU spellings, refused options."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbox import GpuSelection, ReadOnlyMount, SandboxPolicy
from sandbox.policy import nested, parse_size


def test_defaults_are_the_hardened_ones() -> None:
    policy = SandboxPolicy()
    assert policy.backend == "docker"
    assert policy.network == "none"
    assert policy.gpus.mode == "none"
    assert policy.user is None
    assert policy.env == {} and policy.env_allowlist == []


@pytest.mark.parametrize(("text", "expected"), [
    ("512m", 512 * 2**20), ("2g", 2 * 2**30), ("1.5GiB", int(1.5 * 2**30)), ("64k", 65536), (4096, 4096),
])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "-1g", 0])
def test_parse_size_rejects_nonsense(bad: str | int) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


@pytest.mark.parametrize(("spec", "mode", "count", "ids"), [
    (None, "none", None, []), ("none", "none", None, []), ("all", "all", None, []),
    (2, "count", 2, []), ("count=2", "count", 2, []), ("1", "devices", None, ["1"]),
    ("0", "devices", None, ["0"]), ("0,1", "devices", None, ["0", "1"]),
    ([3], "devices", None, ["3"]), ("device=GPU-abc", "devices", None, ["GPU-abc"]),
])
def test_gpu_spellings(spec: object, mode: str, count: int | None, ids: list[str]) -> None:
    selection = GpuSelection.parse(spec)  # type: ignore[arg-type]
    assert (selection.mode, selection.count, selection.device_ids) == (mode, count, ids)


def test_all_gpus_are_refused_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="allow_all_gpus: true"):
        SandboxPolicy(gpus="all")
    assert SandboxPolicy(gpus="all", allow_all_gpus=True).gpus.mode == "all"
    assert SandboxPolicy(gpus=2).gpus.count == 2


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValidationError):
        SandboxPolicy.model_validate({"privileged": True})


@pytest.mark.parametrize("name", ["LD_PRELOAD", "NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "DOCKER_HOST"])
def test_loader_and_runtime_variables_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        SandboxPolicy(env={name: "x"})
    with pytest.raises(ValidationError):
        SandboxPolicy(env_allowlist=[name])


def test_mount_paths_must_be_plain_and_absolute() -> None:
    with pytest.raises(ValidationError):
        ReadOnlyMount(host=Path("/tmp"), container="relative")
    with pytest.raises(ValidationError):
        ReadOnlyMount(host=Path("/tmp"), container="/opt/../etc")


def test_with_mounts_returns_a_copy() -> None:
    policy = SandboxPolicy()
    mounted = policy.with_mounts(ReadOnlyMount(host=Path("/tmp"), container="/opt/data"))
    assert policy.read_only_mounts == []
    assert [m.container for m in mounted.read_only_mounts] == ["/opt/data"]


@pytest.mark.parametrize("bad", ["0", "0.9", "0.5b", "0.0001", "0k", "-1g", "nan", "inf", "1e9", "99999999999t",
                                 -1, True, 1.5, "1" * 40])
def test_sizes_that_are_or_truncate_to_zero_or_overflow_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "under", "floor"), [
    ("memory", "15m", "16m"), ("tmpfs_size", "1023k", "1m"), ("shm_size", "0.5m", "1m"), ("max_file_size", "4k", "1m")])
def test_each_size_of_a_policy_has_a_floor_for_every_backend(field: str, under: str, floor: str) -> None:
    with pytest.raises(ValidationError, match=f"(?s){field}.*must be at least"):
        SandboxPolicy(**{field: under})
    assert getattr(SandboxPolicy(**{field: floor}), field) == floor


@pytest.mark.parametrize(("field", "value"), [("cpus", 0.001), ("cpus", float("inf")), ("cpus", float("nan")),
                                              ("timeout_s", float("inf")), ("nofile", 10**9), ("pids_limit", 10**9)])
def test_numbers_that_mean_no_limit_or_overflow_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        SandboxPolicy(**{field: value})


@pytest.mark.parametrize("alias", ["/opt/avo/harness/", "//opt/avo/harness", "/opt/avo/./harness", "/opt//avo/harness/."])
def test_container_paths_are_canonical(alias: str) -> None:
    assert ReadOnlyMount(host=Path("/x"), container=alias).container == "/opt/avo/harness"
    assert SandboxPolicy(workdir=alias).workdir == "/opt/avo/harness"


@pytest.mark.parametrize("bad", ["opt/avo", "/opt/../etc", "/opt/avo/..", ""])
def test_relative_and_dot_dot_container_paths_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        ReadOnlyMount(host=Path("/x"), container=bad)


def test_nested_is_strict_and_by_component() -> None:
    assert nested("/opt/avo/harness/x", "/opt/avo/harness") and nested("/opt", "/")
    assert not nested("/opt/avo/harness", "/opt/avo/harness") and not nested("/opt/avo/harnessx", "/opt/avo/harness")


@pytest.mark.parametrize("env", [{"A=B": "x"}, {" LD_PRELOAD": "x"}, {"": "x"}, {"OK": "a\0b"}])
def test_environment_names_are_plain_and_values_have_no_nul(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="env"):
        SandboxPolicy(env=env)
    with pytest.raises(ValidationError, match="NUL"):
        ReadOnlyMount(host=Path("/srv/a\0b"), container="/data")
