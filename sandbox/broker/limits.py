"""The broker's own bounds (host policy key ``limits``): connections, request bytes, deadlines.

They bound what every tenant together can make the broker hold, so no tenant can take
its descriptors, threads or memory from the others. Defaults fit a host with
``LimitNOFILE=65536`` (the shipped unit): each connection costs one descriptor and one
thread (two while a call runs), plus Docker's own sockets per call.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MiB = 2**20


class BrokerLimits(BaseModel):
    """How much the broker takes at once, host-wide and per user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_connections: int = Field(default=1024, ge=1)
    max_connections_per_user: int = Field(default=64, ge=1)
    #: One request frame (a call's stdin travels base64-encoded in it: about 48 MiB of data).
    max_frame_bytes: int = Field(default=64 * MiB, ge=64 * 1024, le=2**32 - 1)
    #: Bytes of request frames held (being read, parsed or handled) by one user's connections.
    max_frame_bytes_per_user: int = Field(default=128 * MiB, ge=64 * 1024)
    #: The same over all connections (parsing costs about as much again while a request is handled).
    max_frame_bytes_total: int = Field(default=256 * MiB, ge=64 * 1024)
    #: A frame, once its first byte arrived, must be complete within this.
    frame_deadline_s: float = Field(default=30.0, gt=0, le=3600)
    #: A reply or notice not taken by the client within this drops the client (its session ends).
    send_deadline_s: float = Field(default=10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _consistent(self) -> "BrokerLimits":
        if self.max_connections_per_user > self.max_connections:
            raise ValueError("max_connections_per_user cannot exceed max_connections")
        if not self.max_frame_bytes <= self.max_frame_bytes_per_user <= self.max_frame_bytes_total:
            raise ValueError("need max_frame_bytes <= max_frame_bytes_per_user <= max_frame_bytes_total")
        return self
