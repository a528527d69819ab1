import json
import subprocess
import sys

import pytest

import gan_core


def gan(*args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "gan_core.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("method", gan_core.METHODS)
def test_train_200_steps_every_method(method, tmp_path, env):
    result = gan("train", "--method", method, "--max-steps", "200", "--seed", "0", "--quiet",
                 "--set", "inception_samples=0", "--set", "eval_every_steps=200", "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.splitlines()[0])
    assert metrics["step"] == 200
    assert {"fid_mnist", "precision_mnist", "recall_mnist", "images_per_s"} <= set(metrics)
    assert "throughput:" in result.stdout
    assert (tmp_path / "samples" / "step_0000200.png").exists()


def test_train_reports_inception_metrics_at_the_end(tmp_path, env):
    result = gan("train", "--method", "hinge", "--max-steps", "20", "--quiet", "--set", "inception_samples=24",
                 "--set", "eval_samples=200", "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.splitlines()[0])
    assert metrics["inception_samples"] == 24 and {"fid", "precision", "recall"} <= set(metrics)


@pytest.mark.parametrize("args, message", [
    (["--method", "nope"], "unknown method 'nope'"),
    (["--method", "san", "--set", "colour=red"], "unknown config key 'colour'"),
    (["--method", "san", "--set", "lr_d=-0.1"], "lr_d must be > 0"),
    (["--method", "san", "--set", "batch_size=0"], "batch_size must be >= 1"),
    (["--method", "san", "--set", "oops"], "--set expects key=value"),
])
def test_bad_input_is_one_clear_line(args, message, env):
    result = gan("train", *args, "--max-steps", "5", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_folder_via_cli(tmp_path, env):
    result = gan("train", "--method", "san", "--max-steps", "5", env={**env, "GAN_DATA_DIR": str(tmp_path / "x")})
    assert result.returncode == 2 and "GAN_DATA_DIR" in result.stderr and "Traceback" not in result.stderr


def test_missing_inception_weights_via_cli(tmp_path, env):
    result = gan("train", "--method", "san", "--max-steps", "5", "--set", "inception_samples=10",
                 env={**env, "TORCH_HOME": str(tmp_path)})
    assert result.returncode == 2 and "TORCH_HOME" in result.stderr and "Traceback" not in result.stderr


def test_methods_listing(env):
    result = gan("methods", env=env)
    assert result.returncode == 0 and "san_lambda" in result.stdout
