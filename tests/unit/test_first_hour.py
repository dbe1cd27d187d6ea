"""A new user's first hour (issue 20): no silent spending, scriptable output, one exit-code scheme,
exported runs readable, messages that blame the right thing. In-process and fast: the sandbox and
model endpoint parts are in tests/e2e/test_first_hour_e2e.py."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from fakes import FakeEvaluator, ScriptedOperator, program
from orchestrator.benchmarking.eval_job import run_eval
from orchestrator.benchmarking.solutions import SolutionUnderTest
from orchestrator.cli import _rounded, main
from orchestrator.config import EvolutionConfig, render_default_yaml
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.doctor import misnamed_scoring_class, scorer_checks
from orchestrator.errors import ConfigError
from orchestrator.run_view import RunView
from sandbox.backends.docker import build_hint
from sandbox.broker.host_policy import HostPolicy

REPO = Path(__file__).resolve().parents[2]
LONG_MESSAGE = "a commit message much longer than any terminal is wide " * 4


def avo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`avo` as a script starts it: stdout a pipe, not a terminal."""
    return subprocess.run([sys.executable, "-m", "orchestrator", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """`avo` in this process (stdout captured: not a terminal); its status, stdout and stderr."""
    capsys.readouterr()
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out, err


def write_config(folder: Path, **settings: object) -> Path:
    (folder / "seed.py").write_text(program(1.0, "seed"))
    (folder / "scorer.py").write_text("# never imported on the host\n")
    path = folder / "avo.yaml"
    path.write_text(yaml.safe_dump({"seed_file": "seed.py", "scoring_module": "scorer.py", **settings}))
    return path


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    """A run of three versions (the last with a long message) and one rejection; its config's path."""
    path = write_config(tmp_path)
    config = EvolutionConfig.from_yaml(path)
    operator = ScriptedOperator([program(2.0, "x"), None, program(718515.2, LONG_MESSAGE)])
    EvolutionRunner(config, operator=operator, evaluator=FakeEvaluator()).run()
    return path


# -- item 1: a dollar budget never silently does nothing -------------------------------------------

def test_a_cost_budget_for_an_unpriced_model_is_refused_by_the_config_check_doctor_and_run(tmp_path):
    path = write_config(tmp_path, budget={"max_total_cost_usd": 0.0001})
    with pytest.raises(ConfigError, match=r"avo.yaml: budget.max_total_cost_usd needs the price of llm.model "
                                          r"'gpt-4o'.*add llm.prices: \{gpt-4o: "):
        EvolutionConfig.from_yaml(path)
    run = avo("run", path, cwd=tmp_path)
    assert run.returncode == 2 and "llm.prices" in run.stderr and not (tmp_path / "workspace").exists()
    doctor = avo("doctor", path, "--no-llm", "--json", cwd=tmp_path)
    assert doctor.returncode == 1
    [config_check] = [c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "config"]
    assert not config_check["ok"] and "needs the price of llm.model" in config_check["detail"]
    priced = {"prices": {"gpt-4o": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}}}
    write_config(tmp_path, budget={"max_total_cost_usd": 0.0001}, llm=priced)
    assert EvolutionConfig.from_yaml(path).budget.max_total_cost_usd == 0.0001


def test_init_caps_a_first_run_with_a_priced_model(tmp_path):
    assert main(["init", "-o", str(tmp_path / "avo.yaml")]) == 0
    config = EvolutionConfig.from_yaml(tmp_path / "avo.yaml")
    assert config.max_wall_time_hours <= 1 and config.budget.max_total_cost_usd
    assert config.llm.model in config.llm.prices
    assert (tmp_path / "replay.yaml").is_file()


def test_the_live_view_and_status_say_unpriced_never_zero_dollars(tmp_path, finished_run):
    log = tmp_path / "events.jsonl"
    out = io.StringIO()
    view = RunView(log, Console(file=out, force_terminal=True, width=120))
    view._show({"kind": "agent_turn", "priced": False, "input_tokens": 10, "output_tokens": 2})
    view._show({"kind": "budget", "tokens": 12, "cost_usd": 0.0})
    Console(file=out, width=120).print(view._state.render())
    assert "unpriced" in out.getvalue() and "$0.0000" not in out.getvalue()
    with (finished_run.parent / "workspace" / "events.jsonl").open("a") as events:
        events.write(json.dumps({"kind": "agent_turn", "priced": False}) + "\n")
    status = avo("status", finished_run, cwd=tmp_path)
    assert "unpriced" in status.stdout and "$0.0000" not in status.stdout


# -- item 4: scripting -------------------------------------------------------------------------

def test_version_and_completion(capsys):
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("avo 0")
    status, bash, _ = cli(capsys, "completion", "bash")
    assert status == 0 and "complete -o" in bash and "lineage" in bash


def test_json_on_stdout_is_the_only_thing_there(tmp_path, finished_run, capsys):
    status = json.loads(cli(capsys, "status", finished_run, "--json")[1])
    assert status["versions"] == 3 and status["best"]["version"] == 2
    assert status["best"]["aggregate"] == pytest.approx(718515.2)  # the full float, not "718515" or "7.18515e…"
    versions = json.loads(cli(capsys, "lineage", finished_run, "--json")[1])["versions"]
    assert [v["version"] for v in versions] == [0, 1, 2] and LONG_MESSAGE.strip() in versions[2]["message"]
    assert cli(capsys, "lineage", finished_run, "--json", tmp_path / "out" / "l.json")[0] == 0
    assert json.loads((tmp_path / "out" / "l.json").read_text())["versions"] == versions


def test_nothing_is_cut_when_stdout_is_not_a_terminal(tmp_path, finished_run):
    lineage = avo("lineage", finished_run, cwd=tmp_path).stdout
    assert "718515" in lineage and "…" not in lineage and LONG_MESSAGE.strip() in lineage


# -- item 5: exit codes ----------------------------------------------------------------------

def test_no_run_yet_is_a_user_error_for_status_lineage_report_and_export(tmp_path, capsys):
    path = write_config(tmp_path)
    for command in (["status", path], ["lineage", path, "--json"], ["report", path], ["export", path, "o.tar.gz"]):
        status, out, err = cli(capsys, *command)
        assert status == 2 and out == "" and "avo run" in err, (command, out, err)


def test_image_build_faults_exit_2(tmp_path, capsys):
    path = write_config(tmp_path, sandbox={"packages": ["numpy; rm -rf /"]})
    status, _, err = cli(capsys, "image", "build", path)
    assert status == 2 and err.startswith("avo: ") and "Traceback" not in err


# -- item 6: exported runs --------------------------------------------------------------------

def test_status_and_lineage_read_an_export_which_cannot_be_run(tmp_path, finished_run, capsys):
    assert cli(capsys, "export", finished_run, tmp_path / "shared.tar.gz")[0] == 0
    unpacked = tmp_path / "elsewhere"
    with tarfile.open(tmp_path / "shared.tar.gz") as archive:
        archive.extractall(unpacked, filter="data")
    exported = unpacked / "shared" / "config.yaml"
    assert json.loads(cli(capsys, "status", exported, "--json")[1])["versions"] == 3
    assert len(json.loads(cli(capsys, "lineage", exported, "--json")[1])["versions"]) == 3
    status, _, err = cli(capsys, "run", exported)
    assert status == 2 and "exported run" in err and "avo report|status|lineage" in err


# -- item 8: import avo -----------------------------------------------------------------------

def test_the_public_names_are_the_orchestrators_objects_and_the_broker_supplies_them():
    from avo.config import EvolutionConfig as PublicConfig
    from avo.core.evolution import EvolutionRunner as PublicRunner
    from avo.core.scoring import ScoringFunction as PublicScoring
    from orchestrator.core.scoring import ScoringFunction

    assert (PublicConfig, PublicRunner, PublicScoring) == (EvolutionConfig, EvolutionRunner, ScoringFunction)
    sources = HostPolicy().harness_sources()
    assert sources["/opt/avo/lib/avo"] == (REPO / "avo").resolve()


# -- item 10: small ones ----------------------------------------------------------------------

def test_summary_numbers_are_rounded():
    assert _rounded(582862.5578339685) == "582863" and _rounded(0.000123456789) == "0.000123457"
    assert _rounded(7) == "7" and _rounded("max_versions reached") == "max_versions reached"


def test_a_faster_candidate_is_not_judged_within_a_tolerance(make_config):
    result = run_eval(make_config(), FakeEvaluator(), SolutionUnderTest(label="file new.py", source=program(5717.0)),
                      SolutionUnderTest(label="v0", source=program(1.0)), rounds=1, tolerance=0.03, config_path="c")
    assert result.summary.endswith("the aggregate of the baseline (v0), faster") and "tolerance" not in result.summary
    slower = run_eval(make_config(), FakeEvaluator(), SolutionUnderTest(label="f", source=program(0.99)),
                      SolutionUnderTest(label="v0", source=program(1.0)), rounds=1, tolerance=0.03, config_path="c")
    assert "slower but within the 3% tolerance" in slower.summary


def test_a_yaml_syntax_error_names_the_file(tmp_path):
    (tmp_path / "broken.yaml").write_text("seed_file: [seed.py\n")
    with pytest.raises(ConfigError) as error:
        EvolutionConfig.from_yaml(tmp_path / "broken.yaml")
    assert 'in "' + str(tmp_path / "broken.yaml") + '"' in str(error.value) and "<unicode string>" not in str(error.value)


def test_a_mistyped_image_gets_did_you_mean_and_avo_image_build():
    assert build_hint("avo-sandbox:cpuu") == ("did you mean sandbox.image: avo-sandbox:cpu? "
                                              "(build it with `avo image build`)")
    assert "`avo image build --gpu`" in build_hint("avo-sandbox:gpu") and "make" not in build_hint("ubuntu:22.04")
    assert "avo image build" in render_default_yaml()


def test_a_renamed_scorer_class_is_named_in_the_fix(tmp_path, capsys):
    path = write_config(tmp_path, sandbox={"backend": "local"})
    (tmp_path / "scorer.py").write_text("from avo.core.scoring import Score, ScoringFunction\n\n\n"
                                        "class MyScorer(ScoringFunction):\n"
                                        "    def get_configurations(self):\n        return ['a']\n\n"
                                        "    def evaluate(self, source_code, source_file='solution.py'):\n"
                                        "        return Score(values={'a': 1.0}, passes_correctness=True)\n")
    [check] = scorer_checks(EvolutionConfig.from_yaml(path))
    assert (check.name, check.ok) == ("scorer", False) and "defines no class Scorer" in check.detail
    assert check.fix.startswith("set scoring_class: MyScorer")
    status, out, err = cli(capsys, "run", path)  # said before anything starts
    assert status == 2 and "scoring_class 'Scorer' is not defined in scorer.py: set scoring_class: MyScorer" in err
    assert out == "" and not (tmp_path / "workspace").exists()
    (tmp_path / "scorer.py").write_text((tmp_path / "scorer.py").read_text() + "Scorer = MyScorer\n")
    assert misnamed_scoring_class(EvolutionConfig.from_yaml(path)) is None  # bound by an assignment: fine


def test_eval_json_on_stdout_is_alone_and_the_table_goes_to_stderr(make_config, capsys):
    from orchestrator.benchmarking.command_line import _reporting

    result = run_eval(make_config(), FakeEvaluator(), SolutionUnderTest(label="file new.py", source=program(2.0)),
                      SolutionUnderTest(label="v0", source=program(1.0)), rounds=1, tolerance=0.05, config_path="c")
    capsys.readouterr()
    status = _reporting("eval", lambda args: result)(argparse.Namespace(json=Path("-"), junit=None, file=None))
    out, err = capsys.readouterr()
    assert status == 0 and json.loads(out)["verdict"] == "ok" and "faster" in err
