"""Generator averaging: the update by hand, the warm-up, decay 0 = the raw G, and what is served."""
import copy

import pytest
import torch
from torch import nn

import gan_core
from gan_core import checkpoint, ema
from gan_core.models import Generator
from conftest import TINY


def test_update_by_hand_on_a_tiny_model():
    averaged, current = nn.Linear(2, 1), nn.Linear(2, 1)
    before = [p.detach().clone() for p in averaged.parameters()]
    ema.update(list(averaged.parameters()), list(current.parameters()), 0.9)
    for avg, old, new in zip(averaged.parameters(), before, current.parameters()):
        assert torch.allclose(avg, 0.9 * old + 0.1 * new)


def test_warmup_grows_towards_the_decay():
    assert ema.warmup_decay(0.999, 0) == pytest.approx(0.1)       # (1 + 0) / (10 + 0)
    assert ema.warmup_decay(0.999, 90) == pytest.approx(0.91)     # 91 / 100
    assert ema.warmup_decay(0.999, 10 ** 6) == 0.999              # capped at the decay
    assert ema.warmup_decay(0.5, 10) == 0.5                       # 11 / 20 is above it


def test_decay_zero_serves_the_raw_generator(tmp_path):
    config = {**TINY, "max_steps": 10, "eval_every_steps": 10, "seed": 2}
    off = gan_core.train("vanilla", config, out_dir=tmp_path / "off")
    state = checkpoint.load(tmp_path / "off" / checkpoint.FILE)
    assert "generator_raw" not in state
    on = gan_core.train("vanilla", {**config, "g_ema": 0.999}, out_dir=tmp_path / "on")
    averaged = checkpoint.load(tmp_path / "on" / checkpoint.FILE)
    # the same training (averaging only watches it), a different served generator
    assert all(torch.equal(averaged["generator_raw"][k], v) for k, v in state["generator"].items())
    assert not torch.equal(averaged["generator"]["fc4.weight"], state["generator"]["fc4.weight"])
    assert on["fid_mnist"] != off["fid_mnist"] and on["loss_g"] == off["loss_g"]
    Generator().load_state_dict(averaged["generator"])  # the export loads into the fixed class unchanged


def test_trainer_average_matches_the_rule_applied_by_hand():
    from gan_core import registry

    job, config = registry.resolve("hinge", {**TINY, "max_steps": 3, "g_ema": 0.9})
    trainer = registry.build_trainer(job, config)
    expected = copy.deepcopy(trainer.G)
    for n in range(3):
        trainer.step()
        d = min(0.9, (1 + n) / (10 + n))
        with torch.no_grad():
            for e, g in zip(expected.parameters(), trainer.G.parameters()):
                e.mul_(d).add_(g, alpha=1 - d)
    for e, a in zip(expected.parameters(), trainer.G_ema.parameters()):
        assert torch.allclose(e, a, atol=1e-6)
    assert trainer.served is trainer.G_ema and trainer.ema_updates == 3
