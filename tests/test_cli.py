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
    (["--method", "san", "--set", "loss=hinj"], "loss must be one of"),
    (["--preset", "seed-sna"], "unknown preset 'seed-sna'"),
    (["--preset", "seed-san", "--method", "san"], "exactly one of --method M or --preset NAME"),
    ([], "exactly one of --method M or --preset NAME"),
    (["--method", "san", "--set", "device=cuda"], "CUDA is not available"),
    (["--method", "san", "--resume", "--out", "/nonexistent/run"], "nothing to resume"),
    (["--method", "unrolled", "--population", "2"], "unrolled cannot train in a population"),
    (["--method", "san", "--population", "2", "--snapshots"], "--snapshots keeps a single run's generators"),
    (["--method", "san", "--members", "/nonexistent.yaml"], "--members /nonexistent.yaml: cannot read it"),
])
def test_bad_input_is_one_clear_line(args, message, env):
    result = gan("train", *args, "--max-steps", "5", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--method", "san", "--max-steps", "0"], "must be at least 1, got 0"),
    (["train", "--method", "san", "--epochs", "-2"], "must be at least 1, got -2"),
    (["train", "--method", "san", "--seed", "-1"], "must be at least 0, got -1"),
    (["sample", "san", "--n", "0", "--out", "x"], "must be at least 1, got 0"),
    (["sample", "san", "--n", "ten", "--out", "x"], "expected an integer, got 'ten'"),
    (["sample", "san", "--sampler", "rejection", "--out", "x"], "invalid choice: 'rejection'"),
])
def test_bad_flags_are_refused_by_the_parser(args, message, env):
    result = gan(*args, env=env)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_preset_trains_with_the_seed_config(tmp_path, env):
    result = gan("train", "--preset", "seed-wgan_gp", "--max-steps", "4", "--quiet", "--set", "inception_samples=0",
                 "--set", "eval_samples=200", "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    import torch
    config = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["config"]
    assert (config["n_critic"], config["beta1"], config["beta2"], config["gp_lambda"]) == (5, 0.0, 0.9, 10.0)
    assert config["max_steps"] == 4 and config["epochs"] == 100


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
    assert all(name in result.stdout for name in gan_core.PRESETS) and "seed FID 19.0" in result.stdout


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory):
    """A short vanilla run whose checkpoint the samplers work on."""
    out = tmp_path_factory.mktemp("base")
    env = {**__import__("os").environ, "PYTHONUNBUFFERED": "1"}
    result = gan("train", "--method", "vanilla", "--max-steps", "30", "--quiet", "--set", "inception_samples=0",
                 "--set", "eval_samples=200", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out / "checkpoint.pt"


def test_gan_sample_writes_pngs_from_a_checkpoint(base_checkpoint, tmp_path, env):
    """A shipped generator needs no MLflow: gan sample takes its checkpoint.pt."""
    result = gan("sample", str(base_checkpoint), "--n", "12", "--out", str(tmp_path / "pngs"), env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "pngs").glob("*.png")) == sorted(f"{i}.png" for i in range(12))
    assert f"from checkpoint {base_checkpoint}" in result.stdout
    assert "drawing 12 samples" in result.stdout and "writing PNGs" in result.stderr  # each long step says so
    missing = gan("sample", str(tmp_path / "nope.pt"), "--n", "2", "--out", str(tmp_path / "x"), env=env)
    assert missing.returncode == 2 and "nope.pt" in missing.stderr and "Traceback" not in missing.stderr


def test_gan_sample_takes_a_bare_generator_state_dict_on_either_pixel_mapping(base_checkpoint, tmp_path, env):
    """The shipped generator is a plain state dict that loads into Generator(); its PNGs need no MLflow."""
    import numpy as np
    import torch
    from PIL import Image
    from gan_core import checkpoint
    from gan_core.data import quantize_template
    from gan_core.models import frozen_generator
    from gan_core.sampling import draw
    state = checkpoint.load(base_checkpoint)["generator"]
    torch.save(state, tmp_path / "g.pt")
    result = gan("sample", str(tmp_path / "g.pt"), "--n", "3", "--mapping", "template", "--out",
                 str(tmp_path / "pngs"), env=env)
    assert result.returncode == 0, result.stderr
    expected = quantize_template(draw("plain", 3, generator=frozen_generator(state), base={}, seed=0))
    assert np.array_equal(np.array(Image.open(tmp_path / "pngs" / "2.png")), expected[2].view(28, 28).numpy())
    drs = gan("sample", str(tmp_path / "g.pt"), "--n", "3", "--sampler", "drs", "--out", str(tmp_path / "d"), env=env)
    assert drs.returncode == 2 and "discriminator" in drs.stderr and "Traceback" not in drs.stderr
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


@pytest.mark.parametrize("method, extra", [
    ("drs", ["--set", "calibration_samples=500", "--set", "burn_in=500", "--set", "drs_percentile=80"]),
    ("latent_reweighting", ["--max-steps", "4", "--set", "eval_every_steps=2", "--set", "batch_size=32",
                            "--set", "n_critic=1", "--set", "sampler=latent_rs"]),
    ("latent_reweighting", ["--max-steps", "2", "--set", "batch_size=32", "--set", "sampler=latent_ga",
                            "--set", "eval_every_steps=2"]),
    ("latent_reweighting", ["--max-steps", "2", "--set", "batch_size=32", "--set", "sampler=latent_rs_ga",
                            "--set", "eval_every_steps=2"]),
])
def test_train_every_sampler_job_on_a_checkpoint(method, extra, base_checkpoint, tmp_path, env):
    result = gan("train", "--method", method, "--set", f"base={base_checkpoint}", "--quiet",
                 "--set", "inception_samples=0", "--set", "eval_samples=200", *extra, "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.splitlines()[0])
    assert {"fid_mnist", "precision_mnist", "recall_mnist", "acceptance_rate", "proposals_per_sample"} <= set(metrics)
    assert 0 < metrics["acceptance_rate"] <= 1 and metrics["proposals_per_sample"] >= 1
    assert list((tmp_path / "samples").glob("step_*.png")) and (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize("args, message", [
    (["--method", "drs"], "drs needs base="),
    (["--method", "drs", "--set", "base=/nowhere/checkpoint.pt"], "does not exist"),
    (["--method", "drs", "--set", "base=pyproject.toml"], "is not a readable checkpoint"),
    (["--method", "latent_reweighting", "--set", "base=x.pt", "--set", "max_weight=0.5"], "max_weight must be > 1"),
])
def test_sampler_job_bad_input_is_one_clear_line(args, message, env):
    result = gan("train", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
