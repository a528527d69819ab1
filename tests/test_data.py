import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.data import Batches, DataNotFoundError, load_mnist, quantize, quantize_template, to_unit_range
from gan_core.images import save_grid, save_pngs


def test_pixel_mapping_is_pinned():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 1.7, -3.0])
    # uint8 = round((x + 1) / 2 · 255); the course's save_image(raw tanh) would map -0.5 to 0.
    assert quantize(x).tolist() == [0, 64, 128, 191, 255, 255, 0]
    u8 = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(quantize(to_unit_range(u8)), u8)  # the round trip is exact


def test_template_mapping_is_torchvision_save_image_on_the_raw_output(tmp_path):
    """The seeds' likely mapping: what the course template's save_image(x) writes, x < 0 black."""
    from torchvision.utils import save_image
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    save_image(x, tmp_path / "t.png")
    written = torch.from_numpy(np.array(Image.open(tmp_path / "t.png"))[..., 0].copy())
    assert torch.equal(quantize_template(x).view(28, 28), written)
    assert quantize_template(torch.tensor([-1.0, -0.01, 0.0, 0.5, 1.0])).tolist() == [0, 0, 0, 128, 255]


def test_png_files_hold_exact_pixels(tmp_path):
    u8 = torch.randint(0, 256, (3, 784), dtype=torch.uint8)
    assert save_pngs(u8, tmp_path / "pngs") == 3
    back = np.array(Image.open(tmp_path / "pngs" / "2.png"))
    assert back.shape == (28, 28) and np.array_equal(back, u8[2].view(28, 28).numpy())
    grid = np.array(Image.open(save_grid(u8, tmp_path / "grid.png", nrow=3)))
    assert np.array_equal(grid[2:30, 2:30], u8[0].view(28, 28).numpy())


def test_mnist_loads_as_uint8_tensors():
    train, test = load_mnist("train"), load_mnist("test")
    assert train.shape == (60000, 784) and test.shape == (10000, 784)
    assert train.dtype == torch.uint8


def test_batch_sampler_covers_each_image_once_per_epoch():
    images = torch.arange(10, dtype=torch.uint8).repeat_interleave(784).view(10, 784)
    sampler = Batches(images, 3, seed=0)
    seen = [sampler.next() for _ in range(sampler.batches_per_epoch)]
    values = torch.cat([b[:, 0] for b in seen])
    assert len(set(values.tolist())) == 9  # drop_last: 3 batches of 3 out of 10
    assert all(b.min() >= -1 and b.max() <= 1 for b in seen)
    sampler.next()
    assert sampler.epochs_done == 1 + 1 / 3
    state = sampler.state_dict()
    a = sampler.next()
    sampler.load_state_dict(state)
    assert torch.equal(a, sampler.next())


def test_batch_larger_than_dataset_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        Batches(torch.zeros(5, 784, dtype=torch.uint8), 6, seed=0)


def _run_loader(data_dir, env):
    env = {**env, "GAN_DATA_DIR": str(data_dir)}
    code = "from gan_core.data import load_mnist; load_mnist('train')"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_missing_data_folder_names_the_variable(tmp_path, env):
    result = _run_loader(tmp_path / "nowhere", env)
    assert result.returncode != 0
    assert "DataNotFoundError" in result.stderr and "GAN_DATA_DIR" in result.stderr


def test_absent_files_and_failed_download_names_the_variable(tmp_path, env):
    # No network here: torchvision's real download path runs and fails.
    result = _run_loader(tmp_path, env)
    assert result.returncode != 0
    assert "download failed" in result.stderr and "GAN_DATA_DIR" in result.stderr


def test_member_batches_are_each_a_runs_batches_and_a_member_can_start_over():
    images = torch.arange(12, dtype=torch.uint8).repeat_interleave(784).view(12, 784)
    population, alone = Batches(images, 4, seed=[0, 5]), [Batches(images, 4, seed=s) for s in (0, 5)]
    for _ in range(7):  # past an epoch's end: each member reshuffles with its own generator
        both = population.next()
        assert torch.equal(both[0], alone[0].next()) and torch.equal(both[1], alone[1].next())
    population.restart(1, 9)
    fresh = Batches(images, 4, seed=9)
    assert torch.equal(population.next()[1], fresh.next()) and population.epochs_done[1] == 1 / 3
    state = population.state_dict(member=0)
    single = Batches(images, 4, seed=0)
    single.load_state_dict(state)
    assert torch.equal(single.next(), population.next()[0])
