"""The shared loop through gan_core.train: determinism, resume, reports, divergence, bad input."""
import pytest
import torch

import gan_core
from gan_core import checkpoint, loop, methods
from gan_core.errors import CheckpointError, ConfigError, DeviceError
from gan_core.methods.base import Method
from conftest import TINY


def test_methods_are_listed():
    assert gan_core.METHODS == ("vanilla", "wgan", "wgan_gp", "hinge", "san", "r1", "unrolled", "mdgan")


def test_same_seed_same_fid_mnist_and_other_seed_differs():
    config = {**TINY, "max_steps": 30, "seed": 3}
    a = gan_core.train("san", config)
    b = gan_core.train("san", config)
    c = gan_core.train("san", {**config, "seed": 4})
    assert a["fid_mnist"] == b["fid_mnist"]
    assert a["fid_mnist"] != c["fid_mnist"]


@pytest.mark.parametrize("method, extra", [("wgan_gp", {"d_dropout": 0.2}), ("san", {"g_ema": 0.99})])
def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path, method, extra):
    config = {**TINY, "max_steps": 40, "eval_every_steps": 20, "seed": 1, **extra}
    full = gan_core.train(method, config, out_dir=tmp_path / "full")
    gan_core.train(method, {**config, "max_steps": 20}, out_dir=tmp_path / "part")
    # the interrupted run continues from its checkpoint to the same end
    resumed = gan_core.train(method, config, out_dir=tmp_path / "part", resume=True)
    assert resumed["step"] == 40
    assert resumed["fid_mnist"] == pytest.approx(full["fid_mnist"], rel=1e-9)
    state = checkpoint.load(tmp_path / "full" / checkpoint.FILE)  # weights_only=True
    assert state["step"] == 40 and set(state) >= {"generator", "discriminator", "opt_g", "opt_d", "rng"}
    resumed_state = checkpoint.load(tmp_path / "part" / checkpoint.FILE)
    for key in ("generator", "generator_raw") if extra.get("g_ema") else ("generator",):
        assert all(torch.equal(resumed_state[key][k], v) for k, v in state[key].items()), key
    assert sorted((tmp_path / "full" / "samples").iterdir())[0].name == "step_0000020.png"


def test_resume_refuses_a_missing_foreign_or_changed_checkpoint(tmp_path):
    config = {**TINY, "max_steps": 10, "eval_every_steps": 10}
    with pytest.raises(CheckpointError, match="nothing to resume"):
        gan_core.train("hinge", config, out_dir=tmp_path / "none", resume=True)
    gan_core.train("hinge", config, out_dir=tmp_path / "run")
    with pytest.raises(CheckpointError, match="is a 'hinge' run, not 'san'"):
        gan_core.train("san", config, out_dir=tmp_path / "run", resume=True)
    with pytest.raises(CheckpointError, match=r"other settings \(lr_d"):
        gan_core.train("hinge", {**config, "max_steps": 20, "lr_d": 1e-3}, out_dir=tmp_path / "run", resume=True)
    with pytest.raises(CheckpointError, match="has already trained its 10 steps"):
        gan_core.train("hinge", config, out_dir=tmp_path / "run", resume=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / checkpoint.FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        gan_core.train("hinge", config, out_dir=tmp_path / "bad", resume=True)


def test_reports_carry_throughput_and_sample_counts():
    seen = []
    gan_core.train("hinge", {**TINY, "max_steps": 10, "eval_every_steps": 5},
                   on_report=lambda metrics, state, samples: seen.append((metrics, samples.shape)))
    assert [m["step"] for m, _ in seen] == [5, 10]
    assert all(m["images_per_s"] > 0 and m["eval_samples"] == 500 for m, _ in seen)
    assert seen[-1][0]["final"] and not seen[0][0]["final"]
    assert seen[0][1] == (64, 784)


def test_next_report_cadence():
    assert [loop.next_report(s, 20, 50) for s in (0, 19, 20, 40, 49)] == [20, 20, 40, 50, 50]


def test_wgan_clips_and_uses_rmsprop():
    config = methods.get("wgan").resolve({})
    assert config["optimizer"] == "rmsprop" and config["n_critic"] == 5 and config["lr_d"] == 5e-5
    d = methods.get("wgan").build_discriminator(config)
    with torch.no_grad():
        next(d.parameters()).fill_(1.0)
    methods.get("wgan").after_discriminator_step(d, config)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01


class _ExplodingLoss(Method):
    """A real method whose D loss overflows: exercises the divergence guard end to end."""

    def discriminator_loss(self, D, real, fake, config, rng):
        loss, logs = super().discriminator_loss(D, real, fake, config, rng)
        return loss * float("inf"), logs


def test_divergence_guard_ends_the_run_with_a_reason(monkeypatch):
    monkeypatch.setitem(methods.REGISTRY, "exploding", _ExplodingLoss("exploding"))
    with pytest.raises(loop.Diverged, match=r"exploding diverged at step \d+.*NaN or inf"):
        gan_core.train("exploding", {**TINY, "max_steps": 50})


@pytest.mark.parametrize("config, message", [
    ({"lr_g": -1e-4}, "lr_g must be > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"btach_size": 64}, "did you mean 'batch_size'"),
    ({"san_lambda": "lots"}, "san_lambda must be a number"),
    ({"d_spectral_norm": "maybe"}, "d_spectral_norm must be true or false"),
    ({"loss": "wasserstien"}, "loss must be one of"),
    ({"g_ema": 1.0}, "g_ema must be <= 0.99999"),
])
def test_bad_config_is_refused_before_training(config, message):
    with pytest.raises(ConfigError, match=message):
        gan_core.train("san", config)


def test_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="unknown method 'sna'"):
        gan_core.train("sna", {})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_refused_before_training():
    with pytest.raises(DeviceError, match="CUDA is not available"):
        gan_core.train("san", {**TINY, "device": "cuda", "max_steps": 5})
