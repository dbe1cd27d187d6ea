"""The shipped systemd unit of avo-sandboxd, checked by systemd's own parser.

CI machines run no systemd as PID 1, so the unit cannot be started there (``.ci/run``
starts the broker by hand, as ``scripts/setup-broker.sh`` does without systemd). What can
be checked is what an admin would otherwise find out at ``systemctl start``: that systemd
parses every line of the unit without a warning, that the programs it names exist where
``scripts/setup-broker.sh`` installs them, and that its pre-start check passes on the
host policy that script writes.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from runtimes import unavailable
from tenant_hosts import REPO, require_tenants

UNIT = REPO / "sandbox" / "broker" / "avo-sandboxd.service"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        unavailable("systemd-analyze is missing (Debian's systemd package)")
    return found


def unit_commands(key: str) -> list[list[str]]:
    return [shlex.split(line.split("=", 1)[1]) for line in UNIT.read_text().splitlines() if line.startswith(f"{key}=")]


def test_systemd_parses_the_unit_without_a_warning(tmp_path: Path) -> None:
    require_tenants()  # the broker's venv under /opt/avo, which the unit runs
    unit = tmp_path / UNIT.name
    shutil.copyfile(UNIT, unit)
    result = subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=120)
    # A misspelt key or a bad value is only a warning (exit 0): any output at all fails.
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result


def test_the_units_pre_start_check_passes_on_the_installed_policy() -> None:
    require_tenants()
    (check,), (serve,) = unit_commands("ExecStartPre"), unit_commands("ExecStart")
    assert check[1:2] == ["check"] and serve[1:2] == ["serve"], (check, serve)
    assert check[2:] == serve[2:], "the check must read the policy that serve reads"
    result = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result
    assert "valid" in result.stdout + result.stderr


def test_the_unit_restarts_the_broker_on_any_exit_with_room_for_its_connections() -> None:
    """A fatal error exits non-zero (tests/broker/test_shared_state_attacks.py) and any exit
    restarts it; 1024 descriptors (the default) would not hold the default 1024 connections."""
    keys = dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line and not line.startswith("#"))
    assert keys["Restart"] == "always"
    assert int(keys["LimitNOFILE"]) >= 4 * 1024
