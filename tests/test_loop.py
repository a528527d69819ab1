import pytest
import torch

import gan_core
from gan_core import loop, methods
from gan_core.config import ConfigError
from gan_core.methods.base import Method
from conftest import TINY


def test_methods_are_listed():
    assert {"vanilla", "wgan", "wgan_gp", "hinge", "san", "r1"} <= set(gan_core.METHODS)


def test_same_seed_same_fid_mnist_and_other_seed_differs():
    config = {**TINY, "max_steps": 30, "seed": 3}
    a = gan_core.train("san", config)
    b = gan_core.train("san", config)
    c = gan_core.train("san", {**config, "seed": 4})
    assert a["fid_mnist"] == b["fid_mnist"]
    assert a["fid_mnist"] != c["fid_mnist"]


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    config = {**TINY, "max_steps": 40, "eval_every_steps": 20, "seed": 1, "d_dropout": 0.2}
    full = gan_core.train("wgan_gp", config, out_dir=tmp_path / "full")
    gan_core.train("wgan_gp", {**config, "max_steps": 20}, out_dir=tmp_path / "part")
    # the interrupted run continues from its checkpoint to the same end
    resumed = gan_core.train("wgan_gp", config, out_dir=tmp_path / "part", resume=True)
    assert resumed["step"] == 40
    assert resumed["fid_mnist"] == pytest.approx(full["fid_mnist"], rel=1e-9)
    state = loop.load_checkpoint(tmp_path / "full" / "checkpoint.pt")  # weights_only=True
    assert state["step"] == 40 and set(state) >= {"generator", "discriminator", "opt_g", "opt_d", "rng"}
    assert sorted((tmp_path / "full" / "samples").iterdir())[0].name == "step_0000020.png"


def test_reports_carry_throughput_and_sample_counts():
    seen = []
    loop.run("hinge", {**TINY, "max_steps": 10, "eval_every_steps": 5},
             report=lambda metrics, state, samples: seen.append((metrics, samples.shape)))
    assert [m["step"] for m, _ in seen] == [5, 10]
    assert all(m["images_per_s"] > 0 and m["eval_samples"] == 500 for m, _ in seen)
    assert seen[-1][0]["final"] and not seen[0][0]["final"]
    assert seen[0][1] == (64, 784)


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

    def discriminator_loss(self, D, real, fake, config):
        loss, logs = super().discriminator_loss(D, real, fake, config)
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
])
def test_bad_config_is_refused_before_training(config, message):
    with pytest.raises(ConfigError, match=message):
        gan_core.train("san", config)


def test_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="unknown method 'sna'"):
        gan_core.train("sna", {})
