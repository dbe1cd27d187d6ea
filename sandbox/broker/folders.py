"""Folders the broker makes, with the mode it means whatever the process umask.

``Path.mkdir(mode, parents=True)`` applies the umask to the folder and gives every
missing parent ``0o777 & ~umask``: under ``umask 000`` a parent is world-writable and
the folder itself readable by anyone. Here each folder made gets an explicit
``chmod``, and the leaf (which the broker owns) is checked to be a real folder of its
own, not a link someone else planted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import SandboxError


def make_folder(path: Path, mode: int = 0o700, parent_mode: int = 0o755) -> Path:
    """``path`` as a folder of this process with exactly ``mode``; missing parents get ``parent_mode``."""
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(folder, parent_mode if folder != path else mode)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise SandboxError(f"{path} must be a folder owned by uid {os.geteuid()} (it is not): remove it "
                           f"or point the host policy at another path")
    os.chmod(path, mode)
    return path
