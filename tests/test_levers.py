"""The discriminator's levers: conv body, minibatch std, PacGAN packing, DiffAugment, learning-rate decay."""
import pytest
import torch

import gan_core
from gan_core import augment, methods
from gan_core.draws import Draws, key_for
from gan_core.errors import ConfigError
from gan_core.gan_trainer import GanTrainer
from gan_core.models import Discriminator, SpectralNorm
from gan_core.population import PopulationTrainer
from gan_core.population.stacked import Stacked
from conftest import TINY

STEPS = {**TINY, "max_steps": 4, "eval_every_steps": 4}
LEVERS = [
    ("hinge", {"d_arch": "conv", "d_width": 8, "d_spectral_norm": True}),
    ("hinge", {"d_mbstd": True, "d_pack": 2}),
    ("san", {"d_arch": "conv", "d_width": 8, "d_mbstd": True, "augment": "color,translation,cutout"}),
    ("wgan_gp", {"d_pack": 4, "augment": "translation", "augment_p": 0.5}),
    ("r1", {"augment": "cutout", "lr_decay": "linear"}),
    ("mdgan", {"d_arch": "conv", "d_width": 8, "d_mbstd": True}),
]


@pytest.mark.parametrize("method, levers", LEVERS)
def test_every_method_trains_with_the_levers(method, levers):
    final = gan_core.train(method, {**STEPS, **levers})
    assert final["step"] == 4
    for key in ("loss_d", "loss_g", "fid_mnist"):
        assert torch.isfinite(torch.tensor(final[key])), (method, levers, key, final[key])


def test_the_bodies_have_the_shapes_they_say():
    x = torch.rand(8, 784) * 2 - 1
    conv = Discriminator(arch="conv", width=16, spectral_norm=True)
    assert conv.feature_dim == 32 * 7 * 7 and conv(x).shape == (8,)
    packed = Discriminator(pack=4, mbstd=True)
    assert packed.body[0].in_features == 4 * 784 and packed.feature_dim == 257
    assert packed(x).shape == (2,)  # one logit per pack
    # the baseline MLP's parameter names are unchanged: old checkpoints load
    assert list(Discriminator().state_dict())[:2] == ["body.0.weight", "body.0.bias"]


@torch.no_grad()
def test_minibatch_std_sees_a_collapsed_batch():
    D = Discriminator(mbstd=True)
    varied = D.features(torch.rand(16, 784) * 2 - 1)[:, -1]
    collapsed = D.features((torch.rand(1, 784) * 2 - 1).expand(16, 784))[:, -1]
    assert float(collapsed[0]) < 1e-3 < float(varied[0])  # (√1e-8 = 1e-4 for identical samples)
    assert torch.equal(varied, varied[0].expand(16))  # one number, the same for every sample


def test_spectral_norm_of_a_convolution_bounds_the_flattened_kernel():
    conv = torch.nn.Conv2d(3, 8, 4, 2, 1)
    sn = SpectralNorm(conv.weight.detach())
    for _ in range(50):
        w = sn(conv.weight.detach())
    top = torch.linalg.matrix_norm(w.flatten(1), ord=2)
    assert float(top) == pytest.approx(1.0, rel=1e-3)


def _image(row: int, col: int) -> torch.Tensor:
    x = torch.full((1, 784), -1.0)
    x[0, row * 28 + col] = 1.0
    return x


class _Fixed:
    """A Draws stand-in that returns chosen uniforms, to check where the transforms move pixels."""

    def __init__(self, values):
        self.values = torch.tensor(values)

    def uniform(self, *shape):
        return self.values.expand(*shape)


def test_translation_moves_pixels_by_its_offset_and_fills_background():
    x = _image(10, 10)
    # offset = floor(u·9): u just under 1 → 8, i.e. a shift of 8 − 4 = +4 pixels toward the top-left
    moved = augment.translation(x, _Fixed([0.99, 0.0]))
    lit = torch.nonzero(moved[0] > 0).flatten().tolist()
    assert lit == [(10 - 4) * 28 + (10 + 4)]
    assert float(moved.min()) == -1.0 and float(moved.sum()) == float(x.sum())


def test_cutout_erases_a_square_to_background():
    x = torch.ones(1, 784)
    erased = augment.cutout(x, _Fixed([0.5, 0.5]))  # centre (14, 14): rows and columns 7..20
    img = erased.view(28, 28)
    assert bool((img[7:21, 7:21] == -1).all()) and int((img == -1).sum()) == 14 * 14


def test_color_changes_brightness_and_contrast_and_passes_gradients():
    x = (torch.rand(4, 784) * 2 - 1).requires_grad_(True)
    out = augment.color(x, _Fixed([0.9, 0.9]))  # +0.4 brightness, ×1.4 contrast
    assert torch.allclose(out.mean(-1), x.mean(-1) + 0.4, atol=1e-5)
    assert torch.allclose(out.std(-1), x.std(-1) * 1.4, atol=1e-4)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_a_population_augments_each_member_as_it_would_alone():
    """Counter-based draws: member k's augmented batch equals the run alone's, bit for bit."""
    seeds = [3, 7]
    x = torch.rand(2, 16, 784) * 2 - 1
    p = torch.tensor([1.0, 0.5])
    ops = augment.parse("color,translation,cutout")
    together = augment.augment(x, ops, p, Draws(key_for(torch.tensor(seeds))))
    for k, seed in enumerate(seeds):
        alone = augment.augment(x[k], ops, float(p[k]), Draws(key_for(seed)))
        assert torch.equal(together[k], alone)


def test_a_population_of_lever_discriminators_is_the_members_forward():
    """The conv/mbstd/pack D under vmap computes what each member's D computes (a forward: no dynamics)."""
    config = methods.get("san").resolve({"d_arch": "conv", "d_width": 8, "d_mbstd": True, "d_pack": 2})
    Ds = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        Ds.append(methods.get("san").build_discriminator(config))
    x = torch.rand(2, 8, 784) * 2 - 1
    stacked = Stacked(Ds)
    for k in range(2):
        assert torch.allclose(stacked(x)[k], Ds[k](x[k]), rtol=1e-5, atol=1e-6)
        assert torch.allclose(stacked.split_logits(x)[0][k], Ds[k].split_logits(x[k])[0], rtol=1e-5, atol=1e-6)


def test_linear_decay_reaches_zero_at_the_last_step_alone_and_in_a_population():
    config = methods.get("hinge").resolve({**TINY, "max_steps": 10, "lr_decay": "linear", "lr_d": 4e-4})
    trainer = GanTrainer(methods.get("hinge"), config, torch.device("cpu"))
    population = PopulationTrainer(methods.get("hinge"), [config, {**config, "seed": 1}], torch.device("cpu"))
    for step in range(10):
        trainer.step()
        population.step()
        expected = 4e-4 * (1 - step / 10)
        assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)
        assert population.opt_d.current_lr().tolist() == pytest.approx([expected] * 2, rel=1e-12)
    # a resumed run picks the schedule up where it was
    state = {**trainer.state_dict(), "step": 10}
    again = GanTrainer(methods.get("hinge"), config, torch.device("cpu"))
    again.load_state_dict(state)
    assert again.steps_done == 10


@pytest.mark.parametrize("method, config, words", [
    ("hinge", {"d_pack": 3, "batch_size": 64}, "must divide batch_size"),
    ("hinge", {"augment": "colour"}, "augment must be"),
    ("hinge", {"augment": "color,color"}, "augment must be"),
    ("hinge", {"d_arch": "transformer"}, "d_arch must be one of"),
    ("hinge", {"d_pack": 0}, "d_pack must be >= 1"),
    ("hinge", {"augment_p": 1.5}, "augment_p must be <= 1.0"),
    ("hinge", {"lr_decay": "cosine"}, "lr_decay must be one of"),
    ("unrolled", {"d_pack": 2}, "unrolled does not support d_pack"),
    ("unrolled", {"augment": "translation"}, "unrolled does not support augment"),
])
def test_bad_levers_are_refused_in_one_line(method, config, words):
    with pytest.raises(ConfigError, match=words):
        methods.get(method).resolve(config)


def test_rejection_sampling_scores_one_sample_of_a_packed_discriminator_as_a_pack_of_its_copies():
    config = methods.get("hinge").resolve({"d_pack": 2})
    D = methods.get("hinge").build_discriminator(config)
    state = {"method": "hinge", "config": config, "discriminator": D.state_dict()}
    x = torch.rand(5, 784) * 2 - 1
    scores = methods.frozen_critic(state)(x)
    assert scores.shape == (5,)
    assert torch.allclose(scores[3], D(torch.stack([x[3], x[3]])).reshape(()), atol=1e-6)


# Every body × loss × penalty × spectral norm, with and without the anti-collapse levers: one real step each.
BODIES = [{"d_arch": "mlp"}, {"d_arch": "conv", "d_width": 4}]
PENALTY_SETTINGS = [{}, {"gp_lambda": 10.0}, {"r1_gamma": 1.0}]
ANTI_COLLAPSE = [{}, {"d_mbstd": True}, {"d_pack": 2}, {"d_mbstd": True, "d_pack": 2}]


def _one_step(method: str, config: dict) -> dict:
    job = methods.get(method)
    trainer = GanTrainer(job, job.resolve({**TINY, "batch_size": 8, **config}), torch.device("cpu"))
    return trainer.step()


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b["d_arch"])
@pytest.mark.parametrize("sn", [False, True], ids=["plain", "sn"])
def test_one_step_for_every_body_loss_penalty_and_spectral_norm(body, sn):
    from gan_core.losses import LOSSES

    for loss in LOSSES:
        for penalty in PENALTY_SETTINGS:
            for levers in ANTI_COLLAPSE:
                config = {**body, "loss": loss, "d_spectral_norm": sn, **penalty, **levers}
                logs = _one_step("vanilla", config)
                assert all(torch.isfinite(v).all() for v in logs.values()), config


@pytest.mark.parametrize("method", ["san", "mdgan"])
@pytest.mark.parametrize("body", BODIES, ids=lambda b: b["d_arch"])
def test_the_method_heads_sit_on_every_body_with_the_levers(method, body):
    """SAN's normalized direction and MD-GAN's mixture embedding read the features of either body."""
    for levers in ANTI_COLLAPSE:
        logs = _one_step(method, {**body, **levers, "augment": "translation"})
        assert all(torch.isfinite(v).all() for v in logs.values()), (method, body, levers)


def test_the_defaults_are_the_baseline_mlp_bit_for_bit():
    """d_arch mlp, no mbstd, no packing, no augmentation: the same layers, initialized by the same draws, as the
    baseline D written out by hand; and the training step calls D itself, not a wrapper."""
    config = methods.get("hinge").resolve({})
    torch.manual_seed(0)
    D = methods.get("hinge").build_discriminator(config)
    torch.manual_seed(0)
    layers = [torch.nn.Linear(784, 1024), torch.nn.Linear(1024, 512), torch.nn.Linear(512, 256),
              torch.nn.Linear(256, 1)]
    for mine, theirs in zip([m for m in D.modules() if isinstance(m, torch.nn.Linear)], layers):
        assert torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)
    x = torch.rand(16, 784) * 2 - 1
    h = x
    for layer in layers[:-1]:
        h = torch.nn.functional.leaky_relu(layer(h), 0.2)
    assert torch.equal(D(x), layers[-1](h).squeeze(-1))
    assert augment.wrap(D, config, Draws(key_for(0))) is D


def test_the_generators_gradient_flows_through_the_augmentation():
    from gan_core.models import Generator

    G, D = Generator(), Discriminator()
    rng = Draws(key_for(0))
    seen = augment.wrap(D, methods.get("hinge").resolve({"augment": "color,translation,cutout"}), rng)
    seen(G(torch.randn(8, 100))).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
