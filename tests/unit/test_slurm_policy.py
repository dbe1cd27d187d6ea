"""sandbox.slurm as a user writes it: the sbatch options it becomes, and the mistakes it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.errors import ConfigError
from sandbox import SandboxPolicy
from sandbox.backends.slurm import resource_options
from sandbox.backends.slurm.allocation import owner_comment, parse_owner


def test_resources_default_to_what_one_call_may_use() -> None:
    assert resource_options(SandboxPolicy(cpus=2.5, memory="3g")) == [
        "--nodes=1", "--ntasks=1", "--cpus-per-task=3", "--mem=3072M"]


def test_every_key_becomes_its_sbatch_option() -> None:
    policy = SandboxPolicy(backend="slurm", slurm={
        "partition": "gpu", "account": "proj", "qos": "high", "time": "4:00:00", "gres": "gpu:h100:2",
        "cpus_per_task": 16, "mem": "64G", "extra_args": ["--constraint=h100", "--exclusive"]})
    assert resource_options(policy) == [
        "--constraint=h100", "--exclusive", "--nodes=1", "--ntasks=1", "--cpus-per-task=16", "--mem=64G",
        "--partition=gpu", "--account=proj", "--qos=high", "--time=4:00:00", "--gres=gpu:h100:2"]


#: Every spelling of a reserved option that sbatch (getopt_long) accepts, and what it is.
SMUGGLED = ["--outp=/tmp/x", "-o/path", "--job=mine", "-Jx", "--comm=avo:other", "--wra=true", "--err=/tmp/e",
            "--output", "--j=x", "--no=2", "--ntask=2", "--exp=ALL", "--arr=1-3", "--pars", "-HJx", "-vo/path",
            "-N2", "-n", "-a1-3", "-e/tmp/e", "--job-name=mine"]
#: Options a user may add, in the spellings getopt reads the way the guard does.
ALLOWED = ["--constraint=h100", "--exclusive", "--nodelist=n1", "--ntasks-per-node=1", "--exclude=n2",
           "-pbatch", "-C h100", "--no-requeue", "-H", "-vpgpu", "--gpus-per-task=1", "--comment-not-a-thing=1"]


@pytest.mark.parametrize("arg", SMUGGLED)
def test_every_spelling_of_a_reserved_option_is_refused(arg: str) -> None:
    with pytest.raises(ValueError, match="set by avo itself|avo sets itself|takes a value"):
        SandboxPolicy(backend="slurm", slurm={"extra_args": [arg]})


@pytest.mark.parametrize("arg", ALLOWED)
def test_other_options_pass(arg: str) -> None:
    assert SandboxPolicy(backend="slurm", slurm={"extra_args": [arg]}).slurm.extra_args == [arg]


@pytest.mark.parametrize("args", [["--partition"], ["-p"], ["--constraint", "h100"], ["/tmp/evil.sh"], ["--"]])
def test_a_value_in_the_next_argument_or_a_non_option_is_refused(args: list[str]) -> None:
    """It would swallow avo's own first option (now after extra_args), or end sbatch's options."""
    with pytest.raises(ValueError, match="takes a value|is not an sbatch option"):
        SandboxPolicy(backend="slurm", slurm={"extra_args": args})


def test_avo_options_come_after_extra_args_and_a_percent_is_escaped(tmp_path: Path) -> None:
    from sandbox.backends.slurm.allocation import output_option

    options = resource_options(SandboxPolicy(backend="slurm", slurm={"extra_args": ["--partition=mine"],
                                                                     "partition": "gpu"}))
    assert options.index("--partition=mine") < options.index("--partition=gpu")
    assert output_option(Path("/s/100%j/x.log")) == "--output=/s/100%%j/x.log"


def write(tmp_path: Path, slurm: str) -> Path:
    (tmp_path / "seed.py").write_text("x = 1\n")
    (tmp_path / "scorer.py").write_text("x = 1\n")
    path = tmp_path / "avo.yaml"
    path.write_text(f"seed_file: seed.py\nscoring_module: scorer.py\nsandbox:\n  backend: slurm\n  slurm: {slurm}\n")
    return path


@pytest.mark.parametrize("slurm, message", [
    ("{partiton: gpu}", "unknown key 'sandbox.slurm.partiton' (did you mean 'sandbox.slurm.partition'?)"),
    ("{extra_args: ['--job-name=mine']}", "--job-name is (an abbreviation of) --job-name, which avo sets itself"),
    ("{extra_args: ['-o/path']}", "-o (in -o/path) is set by avo itself"),
    ("{max_steps: 0}", "sandbox.slurm.max_steps"),
    ("{heartbeat_s: 10, stale_after_s: 20}", "stale_after_s must be at least 3 heartbeats"),
    ("{node_backend: podman}", "key 'sandbox.slurm.node_backend'"),
])
def test_a_bad_slurm_key_is_one_line_naming_it(tmp_path: Path, slurm: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EvolutionConfig.from_yaml(write(tmp_path, slurm))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_owner_comment_round_trips_and_others_are_not_ours() -> None:
    host, pid, run = parse_owner(owner_comment("run-1:x"))  # type: ignore[misc]
    assert run == "run-1:x" and pid > 0 and host
    assert parse_owner("someone else's job") is None


def test_the_live_view_shows_a_run_waiting_in_the_queue() -> None:
    from rich.console import Console

    from orchestrator.run_view import _State

    state = _State()
    state.apply({"kind": "slurm_queue", "job_id": 7, "state": "PENDING", "reason": "Resources", "node": ""})
    console = Console(width=120, record=True)
    console.print(state.render())
    assert "slurm job 7: PENDING (Resources)" in console.export_text()
    state.apply({"kind": "slurm_allocation", "job_id": 7, "state": "RUNNING", "node": "gpu07"})
    console.print(state.render())
    assert "slurm job 7: running on gpu07" in console.export_text()


def test_the_live_view_and_recent_events_say_a_user_cancelled_the_job() -> None:
    from rich.console import Console

    from orchestrator.run_view import _State, describe

    event = {"kind": "slurm_cancelled", "job_id": 9}
    assert describe(event) == ("slurm job 9: cancelled by a user (scancel), the run stops; resume it with "
                               "`avo run CONFIG --resume`")
    state = _State()
    state.apply({"kind": "slurm_allocation", "job_id": 9, "state": "RUNNING", "node": "gpu07"})
    state.apply(event)
    console = Console(width=200, record=True)
    console.print(state.render())
    panel = console.export_text()
    assert "slurm  slurm job 9: cancelled by a user (scancel)" in panel  # the panel's slurm row, not only recent
    assert "slurm job 9: running on gpu07" in panel  # still among the recent events


def test_max_step_count_is_read_from_scontrol_show_config() -> None:
    from sandbox.backends.slurm.queue import parse_max_step_count

    config = ("Configuration data as of 2026-12-05T18:30:00\nMaxJobCount             = 10000\n"
              "MaxStepCount            = 40000\nMaxTasksPerNode         = 512\n")
    assert parse_max_step_count(config) == 40000
    assert parse_max_step_count("MaxStepCount=7") == 7
    assert parse_max_step_count("MaxStepCountX = 5\nMaxJobCount = 3") is None
    assert parse_max_step_count("MaxStepCount = (null)") is None
    assert parse_max_step_count("MaxStepCount = 0") is None


def test_the_effective_step_limit_is_the_smaller_and_renewal_starts_before_it() -> None:
    from sandbox.backends.slurm.lease import renew_at, step_limit

    assert step_limit(100, 40000) == 100 and step_limit(None, 40000) == 40000 and step_limit(50000, 40000) == 40000
    assert step_limit(None, None) is None and step_limit(6, None) == 6
    assert renew_at(40000) == 36000 and renew_at(6) == 5 and renew_at(1) == 1


def test_a_warm_call_goes_to_the_helper_in_one_srun_message() -> None:
    """srun relays stdio in 1 KiB messages and a second message waits ~40 ms for a delayed ACK:
    the policy goes once per helper, and a call's line then stays under 1 KiB."""
    import json

    from sandbox.backends.base import shell_script
    from sandbox.backends.slurm.helper_step import HelperStep
    from sandbox.backends.slurm.wire import CallRequest

    policy = SandboxPolicy.model_validate({"image": "avo-sandbox:cpu", "pool_size": 2, "backend": "slurm",
                                           "slurm": {"state_dir": "/var/tmp/" + "s" * 60}})
    request = CallRequest(policy=policy, workspace="/var/tmp/" + "w" * 80, script=shell_script(["true"]),
                          labels={"avo.run": "r" * 40, "avo.purpose": "shell", "avo.call": "c" * 16}, timeout_s=60)
    step = HelperStep.__new__(HelperStep)  # the line format only: no srun
    step._sent_policies = set()
    first = step._lines("a", "call", json.loads(request.model_dump_json())).decode().splitlines()
    again = step._lines("b", "call", json.loads(request.model_dump_json())).decode().splitlines()
    definition, call = json.loads(first[0]), json.loads(first[1])
    assert len(first) == 2 and definition["define"]["policy"] == json.loads(policy.model_dump_json())
    assert call["request"]["policy_ref"] == definition["define"]["ref"] and "policy" not in call["request"]
    assert len(again) == 1 and len(again[0]) + 1 < 1024 and json.loads(again[0])["request"]["policy_ref"]
