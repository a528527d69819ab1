"""The product's main job, end to end: a real --smoke sweep on local Ray, Optuna and ASHA,
tracked in a temporary SQLite MLflow store, then best_model on its champion."""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

import gan_core
from gan_core import ranking, tracking
from gan_core.tracking.metric_names import from_mlflow, logged

ROOT = Path(__file__).resolve().parents[1]


def sweep_cmd(script, *args):
    return [sys.executable, str(ROOT / "sweeps" / script), *args]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke sweep with 4 trials at a time on 2 cores: one SQLite file, many writers' worth of results."""
    cwd = tmp_path_factory.mktemp("sweep")
    # RAY_ADDRESS=local: a private Ray, never a cluster someone started on this machine
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local"}
    result = subprocess.run(
        # a relative URI: it must resolve in the driver's folder, never inside Tune's trial folders
        sweep_cmd("san_lambda_bs.py", "--smoke", "--tracking-uri", "sqlite:///mlflow.db",
                  "--storage-path", "ray_results", "--cpus-per-trial", "0.5"),
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return cwd, result.stdout + result.stderr


def test_smoke_runs_trials_and_asha_prunes(smoke):
    cwd, output = smoke
    c = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
    exp = c.get_experiment_by_name("san")
    trials = c.search_runs([exp.experiment_id], "tags.role = 'trial'")
    assert len(trials) >= 4
    statuses = [r.data.tags["status"] for r in trials]
    assert "pruned" in statuses and "completed" in statuses
    assert "database is locked" not in output
    assert not list(cwd.glob("ray_results/*/*/mlflow.db"))  # nothing resolved inside trial folders


def test_mlflow_holds_parent_children_metrics_images_checkpoints(smoke):
    cwd, _ = smoke
    c = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
    exp = c.get_experiment_by_name("san")
    parents = c.search_runs([exp.experiment_id], "tags.role = 'sweep'")
    assert len(parents) == 1
    parent = parents[0]
    assert {"study", "num_samples", "search_space"} <= set(parent.data.params)
    assert {a.path for a in c.list_artifacts(parent.info.run_id, "optuna")} >= {
        "optuna/parallel_coordinate.png", "optuna/history.png"}
    children = c.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == int(parent.data.params["num_samples"])
    completed = [r for r in children if r.data.tags["status"] == "completed"]
    # the first trial is the seed's configuration; the loss is searched like any other key
    assert any(r.data.params["loss"] == "hinge" and float(r.data.params["san_lambda"]) == 1.0
               and r.data.params["g_ema"] == "0.0" and float(r.data.params["beta1"]) == 0.9 for r in children)
    assert len({r.data.params["loss"] for r in children}) > 1
    # MLflow holds the metrics by section (quality/fid, ...), read back under the code's names
    assert "quality/fid_mnist" in completed[0].data.metrics and "training/loss_d" in completed[0].data.metrics
    # Inception only for the finalists, once after the study: the best completed runs by the sweep's metric,
    # by default the pruning signal (Inception in bf16 on a few samples at ASHA's rungs)
    assert parent.data.params["metric"] == parent.data.params["signal"] == "fid_inception_bf16"
    scored = [r for r in completed if "fid" in from_mlflow(r.data.metrics)]
    assert 1 <= len(scored) <= 3 and all(from_mlflow(r.data.metrics)["inception_samples"] == 32 for r in scored)
    assert all(r.data.params["inception_samples"] == "0" for r in children)  # trials trained without it
    best = sorted(completed, key=lambda r: from_mlflow(r.data.metrics)["fid_inception_bf16"])[:len(scored)]
    assert {r.info.run_id for r in scored} == {r.info.run_id for r in best}
    run = scored[0]
    history = c.get_metric_history(run.info.run_id, logged("fid_mnist"))
    assert [m.step for m in history] == [20, 40, 60]
    assert {"san_lambda", "batch_size", "d_dropout", "lr_g"} <= set(run.data.params)
    assert run.data.tags["git_commit"]
    assert "checkpoint.pt" in {Path(a.path).name for a in c.list_artifacts(run.info.run_id, "checkpoint")}
    images = [a.path for a in c.list_artifacts(run.info.run_id, "images")]
    assert len(images) >= 3  # one sample grid per report under the key "samples"
    pruned = [r for r in children if r.data.tags["status"] == "pruned"]
    assert "ASHA" in pruned[0].data.tags["stop_reason"]


def test_champion_alias_and_best_model(smoke):
    cwd, _ = smoke
    uri = f"sqlite:///{cwd}/mlflow.db"
    version = MlflowClient(uri).get_model_version_by_alias("gan-san", "champion")
    model = gan_core.best_model("san", tracking_uri=uri)
    assert model.run_id == version.run_id
    assert model.metrics["fid"] > 0 and "san_lambda" in model.params
    assert not model.generator.training
    x = model.sample(10, seed=0)
    assert x.shape == (10, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert (x == model.sample(10, seed=0)).all()


def test_loading_a_tracked_checkpoint_leaves_no_copy_behind(smoke, tmp_path, monkeypatch):
    # Each load downloads the run's checkpoint; the copy must go (a leak once filled a disk).
    cwd, _ = smoke
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = gan_core.best_model("san", tracking_uri=f"sqlite:///{cwd}/mlflow.db")
    assert model.state["generator"] and list(scratch.iterdir()) == []


def test_gan_sample_writes_numbered_pngs(smoke, tmp_path):
    cwd, _ = smoke
    out = tmp_path / "pngs"
    result = subprocess.run([sys.executable, "-m", "gan_core.cli", "sample", "san", "--n", "12", "--out", str(out),
                             "--tracking-uri", f"sqlite:///{cwd}/mlflow.db"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.png" for i in range(12))


def test_best_model_clear_errors(smoke, tmp_path):
    cwd, _ = smoke
    with pytest.raises(tracking.ModelNotFoundError, match="no MLflow experiment 'hinge'"):
        gan_core.best_model("hinge", tracking_uri=f"sqlite:///{cwd}/mlflow.db")
    with pytest.raises(gan_core.config.ConfigError, match="unknown method"):
        gan_core.best_model("nope", tracking_uri=f"sqlite:///{cwd}/mlflow.db")
    with pytest.raises(tracking.TrackingUnavailableError, match="unreachable"):
        gan_core.best_model("san", tracking_uri="http://127.0.0.1:9")


BAD_SPACES = {
    "unknown_key": ("method: san\nsearch:\n  lamda: {type: uniform, low: 0.1, high: 2}\n", "search.lamda is not a config key"),
    "empty_range": ("method: san\nsearch:\n  san_lambda: {type: loguniform, low: 2, high: 2}\n", "must be below high"),
    "log_of_zero": ("method: san\nsearch:\n  d_dropout: {type: loguniform, low: 0, high: 0.5}\n", "needs low > 0"),
}


FLAG_CASES = {
    "zero_samples": (["--num-samples", "0"], "--num-samples must be an integer >= 1, got 0"),
    "zero_epochs": (["--max-epochs", "0"], "--max-epochs must be an integer >= 1, got 0"),
    "bad_metric": (["--metric", "fidd"], "--metric must be one of fid_inception_bf16, fid_mnist, fid, got 'fidd'"),
    "no_cpus": (["--cpus-per-trial", "0"], "--cpus-per-trial must be above 0"),
    "nothing_to_resume": (["--resume"], "--resume: no restorable san_lambda_bs-* experiment"),
}


@pytest.mark.parametrize("case", ["unknown_method", "unreachable_uri", "sampler_without_base", "unknown_base",
                                  "asha_grace", "asha_reduction", *BAD_SPACES, *FLAG_CASES])
def test_bad_sweep_input_fails_before_ray_starts(case, tmp_path):
    """One clear line and exit 2, before Ray starts or any folder is written."""
    storage = ["--storage-path", str(tmp_path / "rr")]
    if case == "unknown_method":
        cmd, message = sweep_cmd("all_methods.py", "--smoke", "--methods", "san", "sna", *storage), "unknown method 'sna'"
    elif case == "unreachable_uri":
        cmd, message = sweep_cmd("san_lambda_bs.py", "--smoke", "--tracking-uri", "http://127.0.0.1:9", *storage), \
            "unreachable"
    elif case == "sampler_without_base":
        cmd, message = sweep_cmd("drs.py", "--smoke", *storage), "needs --base"
    elif case == "unknown_base":
        cmd, message = sweep_cmd("latent_reweighting.py", "--smoke", "--base", "f00d", *storage), \
            "'f00d' is not a finished GAN run"
    elif case == "asha_grace":  # the smoke budget makes 3 reports per trial
        cmd, message = sweep_cmd("san_lambda_bs.py", "--smoke", "--asha-grace", "4", *storage), \
            "--asha-grace must be between 1 and the 3 reports a trial makes, got 4"
    elif case == "asha_reduction":
        cmd, message = sweep_cmd("san_lambda_bs.py", "--smoke", "--asha-reduction", "1", *storage), \
            "--asha-reduction must be above 1"
    elif case in FLAG_CASES:
        flags, message = FLAG_CASES[case]
        cmd = sweep_cmd("san_lambda_bs.py", "--smoke", *flags, *storage)
    else:
        text, message = BAD_SPACES[case]
        (tmp_path / "bad.yaml").write_text(text)
        cmd = sweep_cmd("san_lambda_bs.py", "--smoke", "--search-space", str(tmp_path / "bad.yaml"), *storage)
    start = time.time()
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.strip().splitlines() if " INFO " not in line]  # MLflow's own logs
    assert len(errors) == 1, result.stderr
    assert not (tmp_path / "rr").exists() and time.time() - start < 60


def test_sampler_sweeps_on_the_champion_and_every_sampler_through_gan_model(smoke):
    """--smoke sweeps of drs and latent_reweighting on the san champion, linked to it in MLflow,
    then GanModel.sample with each sampler, defaulting to the one recorded as best."""
    cwd, _ = smoke
    uri = f"sqlite:///{cwd}/mlflow.db"
    # RAY_ADDRESS=local: a private Ray, never a cluster someone started on this machine
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "RAY_ADDRESS": "local"}
    champion = gan_core.best_model("san", tracking_uri=uri)
    for script in ("drs.py", "latent_reweighting.py"):
        result = subprocess.run(
            sweep_cmd(script, "--smoke", "--num-samples", "3", "--base", "san", "--tracking-uri", "sqlite:///mlflow.db",
                      "--storage-path", "ray_results", "--cpus-per-trial", "0.5"),
            cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"on run {champion.run_id}" in result.stdout
    c = MlflowClient(uri)
    for job in ("drs", "latent_reweighting"):
        trials = c.search_runs([c.get_experiment_by_name(job).experiment_id], "tags.role = 'trial'")
        assert len(trials) == 3
        done = [r for r in trials if r.data.tags["status"] == "completed"]
        assert done, [r.data.tags for r in trials]
        for run in done:
            metrics = from_mlflow(run.data.metrics)
            assert run.data.tags[tracking.GENERATOR_RUN] == champion.run_id
            assert 0 < metrics["acceptance_rate"] <= 1 <= metrics["proposals_per_sample"]
            assert metrics["inception_samples"] == 32 and "fid" in metrics
    # the recorded sampler is the one the ranking rule picks, in the order the sweeps ran
    expected, current = "plain", champion.metrics
    for job in ("drs", "latent_reweighting"):
        runs = [ranking.RunRecord(r.info.run_id, from_mlflow(r.data.metrics), dict(r.data.params), dict(r.data.tags))
                for r in c.search_runs([c.get_experiment_by_name(job).experiment_id],
                                       "tags.status = 'completed'")]
        best = ranking.rank(runs, "fid")[0][0]
        if ranking.sampler_improves(best.metrics, current):
            expected, current = best.params.get("sampler", job), best.metrics
    model = gan_core.best_model("san", tracking_uri=uri)
    assert model.default_sampler == expected == c.get_run(model.run_id).data.tags.get("best_sampler", "plain")
    for sampler in gan_core.SAMPLERS:
        x = model.sample(6, sampler=sampler, seed=0)
        assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1, sampler
        assert torch.equal(x, model.sample(6, sampler=sampler, seed=0)), sampler
    with pytest.raises(gan_core.config.ConfigError, match="unknown sampler"):
        model.sample(6, sampler="rejection")


def test_every_trial_and_the_study_record_what_they_cost(smoke):
    cwd, output = smoke
    c = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
    exp = c.get_experiment_by_name("san")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI's training view
    trials = [from_mlflow(r.data.metrics) for r in c.search_runs([exp.experiment_id], "tags.role = 'trial'")]
    for m in trials:
        assert m["cpu_seconds"] > 0 and m["wall_seconds"] > 0 and m["device_seconds"] == 0  # CPU only
        assert m["generator_steps"] == m["step"] and m["samples_seen"] >= m["step"] * 32
    parent = c.search_runs([exp.experiment_id], "tags.role = 'sweep'")[0].data.metrics
    assert parent["study/cpu_seconds"] == pytest.approx(sum(m["cpu_seconds"] for m in trials))
    assert parent["study/trials"] == len(trials) and parent["study/wall_seconds"] > 0
    assert 0 < parent["study/epochs_to_champion"] <= parent["study/epochs"]


def test_study_report_is_one_page_whose_figures_load_in_chromium(smoke, tmp_path):
    from headless import images_of

    cwd, output = smoke
    assert "study report: " in output  # the sweep ends by writing it, next to the champion's grid
    uri = f"sqlite:///{cwd}/mlflow.db"
    out = tmp_path / "report.html"
    result = subprocess.run([sys.executable, "-m", "gan_core.cli", "report", "san", "--tracking-uri", uri,
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    page = out.read_text()
    images = images_of(out)
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("san")
    parent = c.search_runs([exp.experiment_id], "tags.role = 'sweep'")[0]
    expected = {"learning curves", "Pareto front: fid against recall", "Pareto front: quality against cost",
                "champion sample grid"}
    if "optuna/importance.png" in {a.path for a in c.list_artifacts(parent.info.run_id, "optuna")}:
        expected.add("Optuna hyperparameter importance")  # Optuna draws it from two completed trials on
    assert {i["alt"] for i in images} == expected and all(i["ok"] and i["width"] > 100 for i in images), images
    champion = gan_core.best_model("san", tracking_uri=uri)
    assert f"won (run {champion.run_id})" in page and "CPU seconds" in page and "stopped early by ASHA" in page
    assert "src=\"http" not in page and "<script" not in page  # self-contained: nothing to fetch, nothing to run
    trials = c.search_runs([exp.experiment_id], "tags.role = 'trial'")
    assert all(r.data.tags["trial_id"] in page for r in trials)
    assert "report/report.html" in {a.path for a in c.list_artifacts(parent.info.run_id, "report")}
