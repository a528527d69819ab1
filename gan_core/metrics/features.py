"""The one feature-extraction step every metric shares: uint8 images -> float64 features.

An extractor is named by what it is and keyed by the hash of its weights (and, for the
MNIST classifier, the layer read), so the reference-stat cache can never mix features
from different networks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..data import to_unit_range
from ..errors import ConfigError
from . import inception, mnist_classifier


@dataclass(frozen=True)
class Extractor:
    name: str            # "mnist" or "inception"
    key: str             # weights hash, plus the feature layer where there is a choice
    batch_size: int
    embed: Callable[[torch.Tensor], torch.Tensor]  # uint8 [B, 784] on device -> float [B, D]
    device: str


def mnist_extractor(device: str = "cpu", layer: str | None = None) -> Extractor:
    """The MNIST classifier's features; ``layer`` names one of mnist_classifier.FEATURE_LAYERS
    (default: FEATURE_LAYER, the one the protocol uses)."""
    layer = layer or mnist_classifier.FEATURE_LAYER
    if layer not in mnist_classifier.FEATURE_LAYERS:
        raise ConfigError(f"unknown MNIST feature layer {layer!r}; one of {sorted(mnist_classifier.FEATURE_LAYERS)}")
    model = mnist_classifier.load(device)
    read = mnist_classifier.FEATURE_LAYERS[layer]

    def embed(images_u8: torch.Tensor) -> torch.Tensor:
        return read(model, model.features(to_unit_range(images_u8).view(-1, 1, 28, 28)))

    # 500 images per batch keeps the conv activations (~12 MB) in cache: about 2x faster on
    # CPU than 2000, with bitwise-identical features; a GPU wants many more per launch.
    batch = 10_000 if str(device).startswith("cuda") else 500
    return Extractor("mnist", f"{mnist_classifier.weights_hash()}-{layer}", batch, embed, device)


def inception_extractor(device: str = "cpu") -> Extractor:
    # channels-last: the same float32 maths, about 1.6x faster on CPU (bench/eval_throughput.py)
    model = inception.load(device, channels_last=True)

    def embed(images_u8: torch.Tensor) -> torch.Tensor:
        # pytorch-fid reads PNGs as RGB in [0, 1]; grey MNIST becomes three equal channels.
        x = images_u8.view(-1, 1, 28, 28).float().div_(255.0).expand(-1, 3, -1, -1)
        return model(x.contiguous(memory_format=torch.channels_last))[0].flatten(1)

    return Extractor("inception", inception.weights_hash(), 100, embed, device)


def inception_bf16_extractor(device: str = "cpu") -> Extractor:
    """The same Inception in bfloat16 autocast, channels-last: about 4x faster on CPU than the protocol's
    float32, its features within about 2% of them. The pruning signal's network (``metrics.probe``), not
    the protocol's: its fid is another metric (``fid_inception_bf16``) with its own reference statistics."""
    model = inception.load(device, channels_last=True)
    kind = "cuda" if str(device).startswith("cuda") else "cpu"

    def embed(images_u8: torch.Tensor) -> torch.Tensor:
        x = images_u8.view(-1, 1, 28, 28).float().div_(255.0).expand(-1, 3, -1, -1)
        with torch.autocast(kind, dtype=torch.bfloat16):
            out = model(x.contiguous(memory_format=torch.channels_last))[0]
        return out.float().flatten(1)

    return Extractor("inception_bf16", f"{inception.weights_hash()}-bf16", 100, embed, device)


EXTRACTORS = {"mnist": mnist_extractor, "inception": inception_extractor, "inception_bf16": inception_bf16_extractor}


@torch.no_grad()
def extract(extractor: Extractor, images_u8: torch.Tensor, progress: str | None = None) -> np.ndarray:
    """Features of uint8 images [N, 784] (any device), batched, as float64 numpy. ``progress``: a bar with
    that label (10,000 Inception images take minutes on a CPU)."""
    out = []
    with tqdm(total=images_u8.shape[0], desc=progress, unit="img", disable=progress is None, mininterval=5) as bar:
        for start in range(0, images_u8.shape[0], extractor.batch_size):
            batch = images_u8[start:start + extractor.batch_size].to(extractor.device)
            out.append(extractor.embed(batch).double().cpu())
            bar.update(batch.shape[0])
    return torch.cat(out).numpy()
