"""Shared test setup: real MNIST and Inception weights from ../shared, a reference-stat
cache that survives between tests (computing Inception stats is the slow part)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Under pytest-xdist each worker (and the Ray workers and subprocesses it starts) gets its share of the cores:
# two torch processes at full threads on two cores run about ten times slower than one.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("OMP_NUM_THREADS", _share)
    os.environ.setdefault("MKL_NUM_THREADS", _share)

os.environ.setdefault("GAN_DATA_DIR", str(SHARED / "data"))
os.environ.setdefault("TORCH_HOME", str(SHARED / "torch_home"))
os.environ.setdefault("GAN_CACHE_DIR", str(ROOT / ".cache" / "test"))

# Keeps every CPU-only test run small and identical: Inception is ~150 ms per image here.
TINY = {"inception_samples": 0, "eval_samples": 500, "probe_samples": 0}


@pytest.fixture
def env(tmp_path):
    """Environment for subprocesses: the same data, weights and cache as this process."""
    e = dict(os.environ)
    e["PYTHONUNBUFFERED"] = "1"
    return e


@pytest.fixture
def float64():
    """torch's default dtype is float64 for the test (models, optimizers, data and draws follow it), then restored:
    long runs compare in float64, where GAN dynamics cannot amplify float32 rounding past a tight tolerance."""
    import torch
    from gan_core.metrics import mnist_classifier

    mnist_classifier.load("cpu")  # the feature network is a float32 instrument: cached before the switch
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield torch.float64
    finally:
        torch.set_default_dtype(before)
