"""The samplers' mathematics on tiny inputs: DRS (Azadi et al. 2019) and latent reweighting."""
import math

import pytest
import torch
from torch import nn

from gan_core import checkpoint, losses
from gan_core.errors import CheckpointError, ConfigError, ModelNotFoundError
from gan_core.gan_model import load_base
from gan_core.models import frozen_generator
from gan_core.registry import get
from gan_core.sampling import SAMPLERS, check_sampler, draw, drs, latent
from gan_core.sampling.rejection import rejection_sample


def test_drs_acceptance_probability_by_hand():
    logit, M, eps, gamma = torch.tensor([0.0, -1.0, 0.5], dtype=torch.float64), 0.5, 1e-6, 0.3
    for d, p in zip(logit.tolist(), drs.acceptance_probability(logit, M, gamma, eps).tolist()):
        f = (d - M) - math.log(1 - math.exp(d - M - eps)) - gamma
        assert p == pytest.approx(1 / (1 + math.exp(-f)), rel=1e-9)
    # the sample at the burn-in maximum is (almost) always accepted when γ = 0
    assert drs.acceptance_probability(torch.tensor([M], dtype=torch.float64), M, 0.0, eps).item() > 0.999


def test_drs_with_gamma_zero_is_exact_rejection_sampling():
    # σ(F) with γ = 0 and ε → 0 equals exp(D̃ − M): the acceptance rule of exact rejection sampling.
    logit = torch.linspace(-6, 0, 13, dtype=torch.float64)
    p = drs.acceptance_probability(logit, 0.0, 0.0, 1e-12)
    assert torch.allclose(p[:-1], torch.exp(logit[:-1]), rtol=1e-6)


class _Scaled(nn.Module):
    """A 1-D 'generator': x = scale · z, so p_g = N(0, scale²)."""

    def __init__(self, scale):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)), requires_grad=False)

    def forward(self, z):
        return self.scale * z


def test_drs_recovers_the_target_on_1d_gaussians():
    # p_g = N(0, 4), p_data = N(0, 1): log p_data/p_g = log 2 − 3x²/8, bounded by M = log 2 at x = 0.
    G = _Scaled(2.0)
    sampler = drs.DRS(lambda x: math.log(2) - 3 * x[:, 0] ** 2 / 8, scale=1.0, shift=0.0, max_logit=math.log(2),
                      percentile=None, eps=1e-12, latent_dim=1)
    x, stats = sampler.sample(G, 40_000, rng=torch.Generator().manual_seed(0))
    assert x.std().item() == pytest.approx(1.0, abs=0.02)  # the accepted samples follow p_data
    assert stats["acceptance_rate"] == pytest.approx(0.5, abs=0.01)  # 1/e^M
    assert stats["proposals_per_sample"] == pytest.approx(2.0, abs=0.05)
    # a percentile shifts γ and accepts more, trading exactness for cost
    _, looser = drs.DRS(sampler.critic, 1.0, 0.0, math.log(2), 10.0, 1e-6, latent_dim=1).sample(
        G, 10_000, rng=torch.Generator().manual_seed(0))
    assert looser["acceptance_rate"] > stats["acceptance_rate"]


def test_drs_calibration_recovers_a_known_log_ratio():
    # d ~ N(1, 1) on real, N(−1, 1) on fake: log p_real(d)/p_fake(d) = 2d, so a = 2, b = 0.
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(20_000, generator=gen) + 1, torch.randn(20_000, generator=gen) - 1
    a, b = drs.fit_calibration(real, fake)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(0.0, abs=0.05)
    a10, b10 = drs.fit_calibration(10 * real, 10 * fake)  # a critic on another scale calibrates the same
    assert a10 * 10 == pytest.approx(a, rel=1e-3) and b10 == pytest.approx(b, abs=1e-3)


def test_importance_objective_by_hand():
    w, values = torch.tensor([0.5, 1.0, 4.0]), torch.tensor([1.0, -1.0, 2.0])
    delta, l1, l2, m = values.mean().item(), 10.0, 3.0, 3.0
    gain = sum(wi * (vi - delta) for wi, vi in zip(w.tolist(), values.tolist())) / 3
    mass = (w.mean().item() - 1) ** 2
    over = (4.0 - m) ** 2 / 3
    loss = losses.importance_weight_loss(w, values, delta=delta, lambda1=l1, lambda2=l2, m=m)
    assert loss.item() == pytest.approx(-(gain - l1 * mass - l2 * over), rel=1e-6)


class _W(nn.Module):
    """w(z) = m · sigmoid(z₀): known acceptance and a gradient pointing along +z₀."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, z):
        return self.m * torch.sigmoid(z[:, 0])


def test_latent_rejection_accepts_with_probability_w_over_m():
    config = {"max_weight": 3.0, "ga_steps": 5, "ga_step_size": 0.5, "rs_ga_steps": 2}
    z, stats = latent.draw_latents(_W(3.0), "latent_rs", 20_000, config, rng=torch.Generator().manual_seed(0),
                                   device=torch.device("cpu"))
    assert stats["acceptance_rate"] == pytest.approx(0.5, abs=0.01)  # E sigmoid(z₀) = 1/2 for z₀ ~ N(0, 1)
    assert z[:, 0].mean().item() > 0.3 and abs(z[:, 1].mean().item()) < 0.03  # tilted along z₀ only
    assert z.shape == (20_000, 100)


def test_latent_gradient_ascent_moves_z_uphill_on_w():
    w, config = _W(3.0), {"max_weight": 3.0, "ga_steps": 5, "ga_step_size": 0.5, "rs_ga_steps": 2}
    z0 = torch.randn(64, 100, generator=torch.Generator().manual_seed(0))
    z = latent.ascend(w, z0, 5, 0.5)
    assert (w(z) > w(z0)).all()
    assert torch.equal(z[:, 1:], z0[:, 1:])  # only the direction w depends on moves
    # one explicit step by hand: z₀ + η · m σ'(z₀)
    one = latent.ascend(w, z0, 1, 0.5)
    s = torch.sigmoid(z0[:, 0])
    assert torch.allclose(one[:, 0], z0[:, 0] + 0.5 * 3.0 * s * (1 - s), atol=1e-6)
    ga, stats = latent.draw_latents(w, "latent_ga", 100, config, rng=torch.Generator().manual_seed(0),
                                    device=torch.device("cpu"))
    assert stats["proposals_per_sample"] == 1.0
    rs_ga, stats = latent.draw_latents(w, "latent_rs_ga", 100, config, rng=torch.Generator().manual_seed(0),
                                       device=torch.device("cpu"))
    assert stats["proposals_per_sample"] > 1.0


def test_sampler_names_and_jobs_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="unknown sampler 'dsr'"):
        check_sampler("dsr")
    with pytest.raises(ValueError, match="unknown latent sampler"):
        latent.draw_latents(_W(1.0), "latent_xx", 1, {}, rng=torch.Generator(), device=torch.device("cpu"))
    with pytest.raises(ConfigError, match="drs needs base="):
        get("drs").resolve({})
    with pytest.raises(ConfigError, match="drs_percentile must be <= 100"):
        get("drs").resolve({"base": "x", "drs_percentile": 120})
    with pytest.raises(ConfigError, match="max_weight must be > 1"):
        get("latent_reweighting").resolve({"base": "x", "max_weight": 1.0})
    with pytest.raises(ConfigError, match="not a finished GAN run"):
        load_base("0123456789abcdef", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    (tmp_path / "x.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_base(str(tmp_path / "x.pt"))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_base(str(tmp_path / "missing.pt"))


def test_the_rejection_loop_keeps_each_candidate_with_its_probability():
    probability = torch.linspace(0, 1, 1000, dtype=torch.float64)
    rng = torch.Generator().manual_seed(0)
    kept, stats = rejection_sample(lambda b: (torch.arange(b), probability), 20_000, rng=rng, what="test", batch=1000)
    assert kept.shape == (20_000,) and stats["acceptance_rate"] == pytest.approx(0.5, abs=0.01)
    counts = torch.bincount(kept, minlength=1000).double()
    assert counts[:100].sum() < counts[-100:].sum() / 10  # kept in proportion to their probability
    with pytest.raises(ConfigError, match="accepted only 0 of"):
        rejection_sample(lambda b: (torch.arange(b), torch.zeros(b)), 1, rng=rng, what="test", max_proposals=10)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A short vanilla run and a latent-reweighting job fitted on it, as files (no MLflow)."""
    import gan_core

    out = tmp_path_factory.mktemp("run")
    tiny = {"inception_samples": 0, "eval_samples": 200}
    gan_core.train("vanilla", {**tiny, "max_steps": 20}, out_dir=out / "gan")
    gan_core.train("latent_reweighting", {**tiny, "base": str(out / "gan" / "checkpoint.pt"), "max_steps": 2,
                                          "eval_every_steps": 2, "batch_size": 32, "n_critic": 1},
                   out_dir=out / "latent")
    return checkpoint.load(out / "gan" / "checkpoint.pt"), checkpoint.load(out / "latent" / "checkpoint.pt")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_draw_from_a_finished_run_with_every_sampler(finished_run, sampler):
    base, fitted = finished_run
    G = frozen_generator(base["generator"])
    job_state = fitted if sampler.startswith("latent") else None
    x = draw(sampler, 7, generator=G, base=base, fitted=job_state, seed=3)
    assert x.shape == (7, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, draw(sampler, 7, generator=G, base=base, fitted=job_state, seed=3))
    if sampler == "plain":  # the generator itself, on the seed's noise
        z = torch.randn(7, 100, generator=torch.Generator().manual_seed(3))
        assert torch.allclose(x, G(z).view(7, 1, 28, 28))


def test_latent_samplers_need_a_fitted_network_and_n_must_be_positive(finished_run):
    base, _ = finished_run
    G = frozen_generator(base["generator"])
    with pytest.raises(ModelNotFoundError, match="needs a fitted importance network"):
        draw("latent_rs", 4, generator=G, base=base)
    for n in (0, -3):
        with pytest.raises(ConfigError, match="n must be a positive integer"):
            draw("plain", n, generator=G, base=base)
