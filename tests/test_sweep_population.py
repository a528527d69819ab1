"""Population sweeps end to end: a real --smoke --population 4 study on local Ray, Optuna and per-member
ASHA, tracked in a temporary SQLite MLflow store; then a killed driver and a killed population resume."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

import gan_core
from gan_core.tracking.metric_names import logged

ROOT = Path(__file__).resolve().parents[1]
# Per-member keys only: every proposal fits the population, so stopped members' slots are refilled.
SPACE = """\
method: san
fixed: {epochs: 100}
search:
  san_lambda: {type: loguniform, low: 0.1, high: 10}
  lr_d: {type: loguniform, low: 1.0e-4, high: 2.0e-3}
smoke: {max_steps: 60, eval_every_steps: 20, eval_samples: 300, inception_samples: 16}
"""
ENV = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local"}


def command(folder: Path, *extra: str) -> list[str]:
    (folder / "space.yaml").write_text(SPACE)
    return [sys.executable, str(ROOT / "sweeps" / "san_lambda_bs.py"), "--smoke", "--population", "4",
            "--num-samples", "8", "--search-space", str(folder / "space.yaml"), "--tracking-uri",
            f"sqlite:///{folder}/mlflow.db", "--storage-path", str(folder / "rr"), "--cpus-per-trial", "1", *extra]


def members(folder: Path):
    c = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    exp = c.get_experiment_by_name("san")
    return c, (c.search_runs([exp.experiment_id], "tags.role = 'trial'") if exp else [])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("population")
    result = subprocess.run(command(folder), cwd=folder, env=ENV, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder, result.stdout


def test_every_member_is_an_optuna_proposal_judged_by_asha_and_a_child_run(study):
    folder, output = study
    c, runs = members(folder)
    assert len(runs) == 8 and len({r.data.tags["trial_id"] for r in runs}) == 8
    statuses = [r.data.tags["status"] for r in runs]
    assert set(statuses) <= {"completed", "pruned"} and "pruned" in statuses and "completed" in statuses
    pruned = next(r for r in runs if r.data.tags["status"] == "pruned")
    assert "ASHA" in pruned.data.tags["stop_reason"] and pruned.info.status == "FINISHED"
    # 8 members through 4 slots of one population: stopped members' slots were refilled
    assert {r.data.params["population"] for r in runs} == {"p0"}
    parent = c.search_runs([runs[0].info.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.data.params["population"] == "4"
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs)
    done = [r for r in runs if r.data.tags["status"] == "completed"]
    assert [m.step for m in c.get_metric_history(done[0].info.run_id, logged("fid_mnist"))] == [20, 40, 60]
    assert c.list_artifacts(done[0].info.run_id, "images") and \
        "checkpoint.pt" in {Path(a.path).name for a in c.list_artifacts(done[0].info.run_id, "checkpoint")}
    # Optuna's own study: every member a trial, the pruned ones with their last value
    journal = next(folder.glob("rr/*/members/optuna.journal"))
    trials = optuna.load_study(study_name=journal.parent.parent.name,
                               storage=JournalStorage(JournalFileBackend(str(journal)))).trials
    assert len(trials) == 8
    for run in runs:
        trial = next(t for t in trials if f"m{t.number:04d}" == run.data.tags["trial_id"])
        expected = {"completed": "COMPLETE", "pruned": "PRUNED"}[run.data.tags["status"]]
        assert trial.state.name == expected
        # the sweep's metric, by default the pruning signal: its last fresh value is what Optuna heard
        last = c.get_metric_history(run.info.run_id, logged(parent.data.params["metric"]))[-1].value
        assert trial.intermediate_values[max(trial.intermediate_values)] == pytest.approx(last)


def test_the_champion_of_a_population_study_serves_samples(study):
    folder, output = study
    uri = f"sqlite:///{folder}/mlflow.db"
    version = MlflowClient(uri).get_model_version_by_alias("gan-san", "champion")
    model = gan_core.best_model("san", tracking_uri=uri)
    assert model.run_id == version.run_id and model.metrics["inception_samples"] == 16
    assert model.sample(5, seed=0).shape == (5, 1, 28, 28)
    assert "Inception fid of the" in output


def test_members_record_their_share_of_the_population_and_the_report_covers_the_study(study, tmp_path):
    from headless import images_of

    from gan_core.tracking.metric_names import from_mlflow

    folder, output = study
    c, runs = members(folder)
    metrics = [from_mlflow(r.data.metrics) for r in runs]
    for m in metrics:  # each member: its own steps, and a share of the process's seconds
        assert m["generator_steps"] == m["member_step"] and m["samples_seen"] >= m["member_step"]
        assert m["cpu_seconds"] > 0 and m["wall_seconds"] > 0
    parent = c.search_runs([runs[0].info.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.data.metrics["study/cpu_seconds"] == pytest.approx(sum(m["cpu_seconds"] for m in metrics))
    report = next(Path(line.split(": ", 1)[1]) for line in output.splitlines() if line.startswith("study report: "))
    images = images_of(report)
    assert len(images) >= 4 and all(i["ok"] and i["width"] > 100 for i in images), images
    assert all(r.data.tags["trial_id"] in report.read_text() for r in runs)


def test_population_flag_is_checked_before_ray_starts(tmp_path):
    for flags, message in ((["--population", "0"], "--population must be an integer >= 1, got 0"),
                           (["--populations", "-1"], "--populations must be an integer >= 1")):
        result = subprocess.run(command(tmp_path, *flags), cwd=tmp_path, env=ENV, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "rr").exists()
    from gan_core import errors, sweep

    with pytest.raises(errors.ConfigError, match="unrolled cannot train in a population: its generator loss"):
        sweep.run_sweep("unrolled", study="refused", population=2, smoke=True, storage_path=str(tmp_path / "rr"),
                        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    with pytest.raises(errors.ConfigError, match="cannot pack a continuous search over md_sigma"):
        space = gan_core.search_space.validate({"method": "mdgan", "search": {
            "md_sigma": {"type": "loguniform", "low": 0.1, "high": 2.0}}, "smoke": {"max_steps": 20,
            "eval_every_steps": 10, "eval_samples": 200, "inception_samples": 0}}, "md.yaml")
        sweep.run_sweep("mdgan", study="refused", space=space, population=2, smoke=True,
                        storage_path=str(tmp_path / "rr"), tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    assert not (tmp_path / "rr").exists()


def test_a_killed_driver_resumes_every_member_once(tmp_path):
    """Kill the driver (and its local Ray) once some members have ended; --resume ends the study with
    every member run exactly once, and the members that had ended not run again."""
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command(tmp_path, "--num-samples", "10"), cwd=tmp_path, env=ENV, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    registry = tmp_path / "rr"
    deadline = time.time() + 900
    try:
        while time.time() < deadline and first.poll() is None:
            found = list(registry.glob("*/members/members.json"))
            if found and found[0].read_text().count('"status": "pruned"') + \
                    found[0].read_text().count('"status": "completed"') >= 2:
                break
            time.sleep(1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL, "the study finished before it could be killed"
    _, before = members(tmp_path)
    ended_before = {r.data.tags["trial_id"]: r.data.tags["status"] for r in before
                    if r.data.tags["status"] in ("completed", "pruned")}
    assert ended_before
    resumed = subprocess.run(command(tmp_path, "--num-samples", "10", "--resume"), cwd=tmp_path, env=ENV,
                             capture_output=True, text=True, timeout=1200)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    c, runs = members(tmp_path)
    ids = [r.data.tags["trial_id"] for r in runs]
    assert len(ids) == len(set(ids)) == 10
    assert all(r.data.tags["status"] in ("completed", "pruned") for r in runs)
    for run in runs:  # no member ran twice: each report logged once, ended members untouched
        steps = [m.step for m in c.get_metric_history(run.info.run_id, logged("fid_mnist"))]
        assert steps == sorted(set(steps)), (run.data.tags["trial_id"], steps)
        if run.data.tags["trial_id"] in ended_before:
            assert run.data.tags["status"] == ended_before[run.data.tags["trial_id"]]


def test_a_killed_population_resumes_from_its_checkpoint_with_every_member_where_it_was(tmp_path):
    """Kill the process that trains the population mid-study: Tune restarts it from its last checkpoint,
    its members go on from there, and no report is logged twice."""
    import json

    proc = subprocess.Popen(command(tmp_path, "--num-samples", "8"), cwd=tmp_path, env=ENV,
                            stdout=open(tmp_path / "log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    killed, deadline = None, time.time() + 900
    try:
        while killed is None and time.time() < deadline and proc.poll() is None:
            for path in tmp_path.glob("rr/*/*/result.json"):
                rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                if len(rows) >= 2 and rows[-1].get("members_active"):  # two checkpoints in, still training
                    os.kill(rows[-1]["pid"], signal.SIGKILL)
                    killed = rows[-1]["pid"]
            time.sleep(0.5)
        assert killed, "the population finished before it could be killed"
        assert proc.wait(timeout=1200) == 0, (tmp_path / "log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    c, runs = members(tmp_path)
    assert len({r.data.tags["trial_id"] for r in runs}) == len(runs) == 8
    assert all(r.data.tags["status"] in ("completed", "pruned") for r in runs)
    for run in runs:
        steps = [m.step for m in c.get_metric_history(run.info.run_id, logged("fid_mnist"))]
        assert steps == sorted(set(steps)) and steps[0] == 20, (run.data.tags["trial_id"], steps)
