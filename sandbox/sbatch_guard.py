"""Which ``sbatch`` options ``sandbox.slurm.extra_args`` may hold: none that avo sets itself.

avo names, logs and finds its jobs by ``--job-name``, ``--output``, ``--comment`` and
friends; a holder renamed through ``extra_args`` is never matched by the next start's
orphan sweep, and its log goes elsewhere. ``sbatch`` parses with ``getopt_long``, so the
guard must see every spelling getopt accepts:

- a long option abbreviated to any unambiguous prefix (``--outp=f``, ``--j=x``, ``--comm=c``);
- short options glued into one cluster, the last one taking the rest as its value
  (``-o/path``, ``-Jx``, ``-Ho/path``);
- an option whose value is the NEXT argument (``["--partition"]``): at the end of
  ``extra_args`` it would swallow the first of avo's own options, so a value must be
  glued (``--partition=gpu``, ``-pgpu``);
- anything that is not an option (a script path, ``--``), which would end sbatch's options.

The rules are checked on the arguments as getopt reads them, not as strings: ``-pbatch``
is ``-p`` with the value ``batch``, not a cluster holding ``-a``.
"""

from __future__ import annotations

#: Long options avo sets on every job it submits, and their short spellings.
RESERVED_LONG = ("job-name", "output", "error", "parsable", "nodes", "ntasks", "comment", "wrap", "export",
                 "array")
RESERVED_SHORT = frozenset("JoeNna")
#: sbatch's long options that take no value (or an optional one, which must then be glued with ``=``).
FLAG_LONG = frozenset({"contiguous", "exclusive", "hold", "no-kill", "no-requeue", "overcommit", "oversubscribe",
                       "requeue", "spread-job", "use-min-nodes", "reboot", "quiet", "verbose", "get-user-env",
                       "propagate"})
#: sbatch's short options that take no value: the ones a cluster may chain before a value-taking one.
FLAG_SHORT = frozenset("HOQsvW")


def refused_extra_arg(arg: str) -> str | None:
    """Why ``arg`` may not be one of ``extra_args`` (one line naming the fix), or None if it may."""
    if not arg.startswith("-") or arg in ("-", "--"):
        return (f"{arg!r} is not an sbatch option: sandbox.slurm.extra_args holds options only, each with its "
                "value glued (--constraint=h100, -pgpu)")
    if arg.startswith("--"):
        return _refused_long(arg)
    return _refused_short(arg)


def _refused_long(arg: str) -> str | None:
    name, has_value, _ = arg[2:].partition("=")
    taken = [option for option in RESERVED_LONG if option.startswith(name)]
    if taken:
        return (f"{arg.split('=', 1)[0]} is (an abbreviation of) --{taken[0]}, which avo sets itself: remove it "
                "from sandbox.slurm.extra_args")
    if not has_value and name not in FLAG_LONG:
        return (f"--{name} takes a value: write it as one argument, --{name}=VALUE, in sandbox.slurm.extra_args "
                "(a value in the next argument would swallow avo's own options)")
    return None


def _refused_short(arg: str) -> str | None:
    for index, letter in enumerate(arg[1:], start=1):
        if letter in RESERVED_SHORT:
            return f"-{letter} (in {arg}) is set by avo itself: remove it from sandbox.slurm.extra_args"
        if letter not in FLAG_SHORT:  # takes a value: the rest of the cluster
            if index == len(arg) - 1:
                return (f"-{letter} takes a value: glue it (-{letter}VALUE) in sandbox.slurm.extra_args "
                        "(a value in the next argument would swallow avo's own options)")
            return None
    return None
