"""compare_gan's modular test: one training step for every loss × penalty × spectral norm on the
baseline D, and the composition by hand of the D loss (loss + penalties) and of SAN's."""
import itertools

import pytest
import torch

from gan_core import losses, methods
from gan_core.draws import Draws, key_for
from gan_core.gan_trainer import make_optimizer, make_train_step
from gan_core.models import Generator

PENALTY_CASES = [{}, {"gp_lambda": 10.0}, {"r1_gamma": 1.0}, {"gp_lambda": 1.0, "r1_gamma": 1.0}]


@pytest.mark.parametrize("loss, penalty, spectral_norm", list(itertools.product(
    losses.LOSSES, range(len(PENALTY_CASES)), (False, True))))
def test_one_step_of_every_loss_penalty_and_normalization(loss, penalty, spectral_norm):
    method = methods.get("vanilla")
    config = method.resolve({"loss": loss, "d_spectral_norm": spectral_norm, "batch_size": 8,
                             **PENALTY_CASES[penalty]})
    torch.manual_seed(0)
    G, D = Generator(), method.build_discriminator(config)
    opt_g, opt_d = make_optimizer(G.parameters(), config, 1e-3), make_optimizer(D.parameters(), config, 1e-3)
    before_g, before_d = [p.clone() for p in G.parameters()], [p.clone() for p in D.parameters()]
    step = make_train_step(method, config, G, D, opt_g, opt_d, lambda: torch.rand(8, 784) * 2 - 1,
                           lambda n: torch.randn(n, 100), Draws(key_for(0)))
    loss_d, loss_g, logs = step()
    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    assert all(not torch.equal(a, b) for a, b in zip(before_g, G.parameters()))  # G moved
    assert any(not torch.equal(a, b) for a, b in zip(before_d, D.parameters()))  # D moved


def test_discriminator_loss_is_the_loss_plus_weighted_penalties_by_hand():
    method = methods.get("vanilla")
    torch.manual_seed(0)
    config = method.resolve({"loss": "hinge", "gp_lambda": 3.0, "r1_gamma": 2.0})
    D = method.build_discriminator(config)
    real, fake = torch.rand(6, 784), torch.rand(6, 784)
    loss, _ = method.discriminator_loss(D, real, fake, config, Draws(key_for(1)))
    # the same interpolation draws for the gradient penalty: a fresh stream with the same key
    expected = (losses.hinge_loss_dis(D(real), D(fake)) + 3.0 * losses.gradient_penalty(D, real, fake, Draws(key_for(1)))
                + 0.5 * 2.0 * losses.r1_penalty(D, real))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    off = method.resolve({"loss": "hinge"})
    assert method.penalties(D, real, fake, off, Draws(key_for(1))) == 0.0


@pytest.mark.parametrize("loss", ["hinge", "non_saturating"])
def test_san_loss_is_the_configured_loss_on_h_plus_lambda_wasserstein_on_omega(loss):
    method = methods.get("san")
    config = method.resolve({"loss": loss, "san_lambda": 2.5})
    torch.manual_seed(0)
    D = method.build_discriminator(config)
    real, fake = torch.rand(6, 784), torch.rand(6, 784)
    got, _ = method.discriminator_loss(D, real, fake, config, Draws(key_for(0)))
    h_real, h_fake = D.features(real), D.features(fake)
    omega = D.direction()
    expected = (losses.LOSSES[loss].dis(h_real @ omega, h_fake @ omega)
                + 2.5 * losses.wasserstein_loss_dis(h_real @ omega, h_fake @ omega))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    # the gradients split: h sees only the loss term, ω only the λ-weighted Wasserstein term
    got.backward()
    h_only = losses.LOSSES[loss].dis(D.features(real) @ omega.detach(), D.features(fake) @ omega.detach())
    grads = torch.autograd.grad(h_only, [p for n, p in D.named_parameters() if n != "omega"])
    for (name, p), g in zip([(n, p) for n, p in D.named_parameters() if n != "omega"], grads):
        assert torch.allclose(p.grad, g, atol=1e-6), name
    w_only = 2.5 * losses.wasserstein_loss_dis(D.features(real).detach() @ D.direction(),
                                              D.features(fake).detach() @ D.direction())
    (g_omega,) = torch.autograd.grad(w_only, D.omega)
    assert torch.allclose(D.omega.grad, g_omega, atol=1e-6)
