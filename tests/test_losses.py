import math

import torch

from gan_core import losses
from gan_core.draws import Draws, key_for


def test_minimax_and_non_saturating_at_zero_logits():
    zero = torch.zeros(3)
    assert math.isclose(losses.minimax_loss_dis(zero, zero).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(losses.ns_loss_gen(zero).item(), math.log(2), rel_tol=1e-6)
    # -log σ(2) by hand
    assert math.isclose(losses.ns_loss_gen(torch.tensor([2.0])).item(), math.log(1 + math.exp(-2)), rel_tol=1e-6)


def test_wasserstein_hinge_least_squares_by_hand():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-0.5, 0.25])
    assert math.isclose(losses.wasserstein_loss_dis(real, fake).item(), (-0.125) - 1.25, rel_tol=1e-6)
    assert math.isclose(losses.wasserstein_loss_gen(fake).item(), 0.125, rel_tol=1e-6)
    # hinge: relu(1-2)=0, relu(1-0.5)=0.5 -> 0.25; relu(1-0.5)=0.5, relu(1.25)=1.25 -> 0.875
    assert math.isclose(losses.hinge_loss_dis(real, fake).item(), 0.25 + 0.875, rel_tol=1e-6)
    assert math.isclose(losses.hinge_loss_gen(fake).item(), 0.125, rel_tol=1e-6)
    # LS: 0.5*mean((1, 0.25)) + 0.5*mean((0.25, 0.0625))
    assert math.isclose(losses.least_squares_loss_dis(real, fake).item(), 0.3125 + 0.078125, rel_tol=1e-6)


def test_gradient_penalty_on_linear_critic_is_known():
    w = torch.tensor([3.0, 4.0])  # ‖∇D‖ = ‖w‖ = 5 everywhere
    critic = lambda x: x @ w
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert math.isclose(losses.gradient_penalty(critic, real, fake, Draws(key_for(0))).item(), (5 - 1) ** 2,
                        rel_tol=1e-6)


def test_r1_penalty_on_linear_and_quadratic_critics():
    w = torch.tensor([1.0, 2.0, 2.0])
    real = torch.randn(4, 3)
    assert math.isclose(losses.r1_penalty(lambda x: x @ w, real).item(), 9.0, rel_tol=1e-6)
    # D(x) = ½‖x‖² has ∇D = x, so R1 = E‖x‖²
    expected = real.pow(2).sum(1).mean().item()
    assert math.isclose(losses.r1_penalty(lambda x: 0.5 * x.pow(2).sum(1), real).item(), expected, rel_tol=1e-6)


def test_penalties_are_differentiable_for_the_discriminator():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = losses.gradient_penalty(lambda x: x @ w, torch.randn(4, 2), torch.randn(4, 2), Draws(key_for(0)))
    (grad,) = torch.autograd.grad(gp, w)
    # d/dw (‖w‖-1)² = 2(‖w‖-1) w/‖w‖
    assert torch.allclose(grad, 2 * 4 * w.detach() / 5)


def test_every_loss_pair_by_hand_and_minimax_is_not_non_saturating():
    fake = torch.tensor([2.0])
    assert math.isclose(losses.LOSSES["minimax"].gen(fake).item(), -math.log(1 + math.exp(2)), rel_tol=1e-6)
    assert math.isclose(losses.LOSSES["non_saturating"].gen(fake).item(), math.log(1 + math.exp(-2)), rel_tol=1e-6)
    assert losses.LOSSES["minimax"].dis is losses.LOSSES["non_saturating"].dis is losses.minimax_loss_dis
    assert set(losses.LOSSES) == {"minimax", "non_saturating", "wasserstein", "hinge", "least_squares"}


def test_penalty_table_weights():
    assert losses.PENALTIES["gp_lambda"] == (losses.gradient_penalty, 1.0)
    assert losses.PENALTIES["r1_gamma"] == (losses.r1_penalty, 0.5)  # R1 is (γ/2)·E‖∇D‖²


def test_losses_reduce_over_the_batch_only_so_a_population_gets_one_per_member():
    real, fake = torch.randn(3, 8), torch.randn(3, 8)
    for name, pair in losses.LOSSES.items():
        per_member = pair.dis(real, fake)
        assert per_member.shape == (3,), name
        assert torch.allclose(per_member, torch.stack([pair.dis(real[k], fake[k]) for k in range(3)])), name
        assert torch.allclose(pair.gen(fake), torch.stack([pair.gen(fake[k]) for k in range(3)])), name
    w = torch.tensor([1.0, 2.0, 3.0])  # a gradient penalty per member on x ↦ w_k·Σx: ‖∇‖ = w_k·√2
    gp = losses.gradient_penalty(lambda x: w[:, None] * x.sum(-1), torch.randn(3, 5, 2), torch.randn(3, 5, 2),
                                 Draws(key_for(torch.arange(3))))
    assert torch.allclose(gp, (w * math.sqrt(2) - 1) ** 2)
    assert losses.per_member(2.0, real) == 2.0 and losses.per_member(w, torch.zeros(3, 4, 5)).shape == (3, 1, 1)
