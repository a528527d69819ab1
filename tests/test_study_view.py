"""What a user sees after a study, in MLflow's own terms: the training view, metric sections, and the hint."""
from mlflow import MlflowClient

from gan_core import tracking
from gan_core.sweep.cli import open_the_ui

KIND = "mlflow.experimentKind"


def test_new_and_existing_experiments_open_in_the_training_view(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    c = MlflowClient(uri)
    old = c.create_experiment("wgan")  # a store written before the tag existed
    tracking.SweepRun.start(uri, "wgan", "s1", {"study": "x"})
    tracking.SweepRun.start(uri, "san", "s2", {"study": "x"})
    assert c.get_experiment(old).tags[KIND] == "custom_model_development"
    assert c.get_experiment_by_name("san").tags[KIND] == "custom_model_development"


def test_the_hint_names_the_server_or_the_local_ui():
    server = open_the_ui("http://127.0.0.1:5111/", "san", "7")
    assert "open http://127.0.0.1:5111/#/experiments/7/runs?workflowType=machine_learning" in server
    assert "mlflow ui" not in server and "5000" not in server
    local = open_the_ui("sqlite:////tmp/x/mlflow.db", "san", "7")
    assert "mlflow ui --backend-store-uri sqlite:////tmp/x/mlflow.db" in local
    assert "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning" in local


def test_metric_names_put_quality_first_and_read_both_spellings():
    from gan_core.tracking.metric_names import from_mlflow, internal, logged

    assert logged("fid") == "quality/fid" and logged("fid_mnist") == "quality/fid_mnist"
    assert logged("fid_inception_bf16") == "quality/fid_inception_bf16"
    assert logged("loss_d") == "training/loss_d" and logged("images_per_s") == "speed/images_per_s"
    assert logged("probe_samples") == "probe_samples"  # an unknown key keeps its name
    assert internal("quality/fid") == internal("fid") == "fid"
    assert internal("study/wall_seconds") == "study/wall_seconds"
    assert from_mlflow({"fid_mnist": 9.0, "quality/fid_mnist": 7.0, "loss_d": 1.0}) == {"fid_mnist": 7.0, "loss_d": 1.0}
    # MLflow's UI sorts named sections alphabetically (unprefixed last): quality must sort first
    sections = sorted({logged(k).split("/")[0] for k in ("fid", "loss_d", "images_per_s", "eval_samples",
                                                        "acceptance_rate", "wall_seconds", "epoch")})
    assert sections[0] == "quality"


def test_a_store_written_before_the_sections_still_ranks_and_serves(tmp_path):
    """Old runs (fid_mnist) and new ones (quality/fid_mnist) rank together; best_model loads the winner."""
    import gan_core
    from gan_core.tracking.metric_names import to_mlflow

    from conftest import TINY

    folder = tmp_path / "run"
    gan_core.train("san", {**TINY, "eval_samples": 200, "max_steps": 2, "eval_every_steps": 2}, out_dir=folder)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    c = MlflowClient(uri)
    exp = c.create_experiment("san")
    ids = {}
    for name, fid, new in (("old_good", 40.0, False), ("old_bad", 60.0, False), ("new_mid", 50.0, True)):
        run = c.create_run(exp, tags={"status": "completed", "metrics_version": "2/x", "role": "trial"})
        metrics = {"fid_mnist": fid, "eval_samples": 200.0, "loss_d": 0.5}
        for key, value in (to_mlflow(metrics) if new else metrics).items():
            c.log_metric(run.info.run_id, key, value, step=2)
        c.log_artifacts(run.info.run_id, str(folder), tracking.CHECKPOINT_ARTIFACT)
        c.set_terminated(run.info.run_id, "FINISHED")
        ids[name] = run.info.run_id
    runs = tracking.finished_runs("san", uri)
    assert all(r.metrics["eval_samples"] == 200 and "fid_mnist" in r.metrics for r in runs)
    ranked, used = gan_core.ranking.rank(runs, "fid_mnist")
    assert used == "fid_mnist" and [r.run_id for r in ranked] == [ids["old_good"], ids["new_mid"], ids["old_bad"]]
    model = gan_core.best_model("san", tracking_uri=uri, metric="fid_mnist")
    assert model.run_id == ids["old_good"] and model.metrics["fid_mnist"] == 40.0
    assert model.sample(4, seed=0).shape == (4, 1, 28, 28)


def test_the_printed_link_opens_the_training_view_with_quality_charts_first(tmp_path):
    """A real `mlflow server` on a fresh store and a real headless Chromium on the link the sweep prints."""
    import re
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from headless import texts_of

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = tracking.SweepRun.start(uri, "san", "s1", {"study": "x"})
    run = sweep.trial_run("t1", {"lr_g": 1e-4})
    for step in (1, 2):
        sweep.log_report(run, {"fid_mnist": 30.0 / step, "loss_d": 0.5, "images_per_s": 900.0, "eval_samples": 200,
                               "epoch": step / 2, "step": step, "cpu_seconds": 3.0 * step})
    sweep.end_trial(run, "completed")
    sweep.finish({"fid_mnist": 15.0, "study/cpu_seconds": 6.0})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except OSError:
                assert time.time() < deadline, "mlflow server did not start"
                time.sleep(1)
        link = re.search(r"open (\S+)", open_the_ui(base, "san", sweep.experiment_id, sweep.run_id)).group(1)
        texts = texts_of(link)
    finally:
        server.terminate()
        server.wait(timeout=30)
    # the model-training view's navigation, not the GenAI one (Overview, Traces, Judges)
    assert {"Runs", "Models", "Model registry"} <= set(texts) and "Judges" not in texts, texts[:40]
    sections = texts[next(i for i, t in enumerate(texts) if t.startswith("matching run")) + 1:]
    assert sections[0] == "quality", sections[:20]  # the first chart section
    assert "san-t1" in texts and "s1" not in texts, texts[:60]  # the sweep's trials, listed without their parent


def test_a_pbt_study_report_shows_its_lineage(tmp_path):
    """Members' exploits, as the coordinator tags them, are a table of the report (real SQLite store)."""
    from gan_core.report import write_report
    from gan_core.tracking.sweep_run import SweepRun

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = SweepRun.start(uri, "san", "pbt-study", {"study": "pbt-study", "metric": "fid_mnist", "scheduler": "pbt"})
    ids = {}
    for member, value in (("m0000", 5.0), ("m0001", 7.0)):
        ids[member] = sweep.trial_run(member, {"lr_d": 1e-3})
        for step in (20, 40):
            sweep.log_report(ids[member], {"step": step, "epoch": step / 20, "fid_mnist": value / step * 20,
                                           "eval_samples": 500})
    sweep.set_tags(ids["m0001"], {"pbt_parent": "m0000", "pbt_parent.step_20": "m0000"})
    for run_id in ids.values():
        sweep.end_trial(run_id, "completed")
    html = write_report(sweep.run_id, tracking_uri=uri, out=tmp_path / "report.html", log=False).read_text()
    assert "<h2>PBT lineage</h2>" in html
    lineage = html.split("<h2>PBT lineage</h2>")[1].split("<h2>")[0]
    assert "m0001" in lineage and "m0000" in lineage and ">20<" in lineage
