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
    server = open_the_ui("http://127.0.0.1:5111/", "san")
    assert "http://127.0.0.1:5111" in server and "mlflow ui" not in server and "5000" not in server
    local = open_the_ui("sqlite:////tmp/x/mlflow.db", "san")
    assert "mlflow ui --backend-store-uri sqlite:////tmp/x/mlflow.db" in local and "127.0.0.1:5000" in local
