"""The broker's own bounds (host policy ``limits``): a value that would lift a bound is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sandbox.broker.limits import BrokerLimits


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), 3601])
@pytest.mark.parametrize("key", ["frame_deadline_s", "send_deadline_s"])
def test_a_deadline_is_positive_finite_and_bounded(key: str, value: float) -> None:
    with pytest.raises(ValidationError):
        BrokerLimits(**{key: value})


@pytest.mark.parametrize("key", ["max_connections", "max_connections_per_user"])
@pytest.mark.parametrize("value", [0, -5])
def test_a_connection_cap_is_at_least_one(key: str, value: int) -> None:
    with pytest.raises(ValidationError):
        BrokerLimits(**{key: value})


@pytest.mark.parametrize("settings", [
    {"max_frame_bytes": 1024},                                   # under the 64 KiB floor
    {"max_frame_bytes": 2**32},                                  # over what the 4-byte header can say
    {"max_connections": 10, "max_connections_per_user": 11},    # a user over the host
    {"max_frame_bytes": 8 * 2**20, "max_frame_bytes_per_user": 4 * 2**20},
    {"max_frame_bytes_per_user": 512 * 2**20, "max_frame_bytes_total": 256 * 2**20},
])
def test_inconsistent_or_out_of_range_frame_and_connection_bounds_are_refused(settings: dict) -> None:
    with pytest.raises(ValidationError):
        BrokerLimits(**settings)


def test_the_defaults_hold_together() -> None:
    limits = BrokerLimits()
    assert limits.max_frame_bytes <= limits.max_frame_bytes_per_user <= limits.max_frame_bytes_total
    assert 1 <= limits.max_connections_per_user <= limits.max_connections
