"""One finding of ``avo doctor``: what was checked, whether it is fine, what was seen, the fix."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DoctorCheck(BaseModel):
    """``ok`` False fails the doctor; ``warning`` marks a finding that works but deserves attention
    (a GPU that other processes may share makes timings noise, yet scoring still runs)."""

    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False
