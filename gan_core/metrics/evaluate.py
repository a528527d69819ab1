"""The evaluation protocol: samples -> uint8 -> features -> fid, precision, recall, density, coverage.

Metric names: fid/precision/recall/density/coverage on Inception pool3 features, and the
same with a _mnist suffix on the project's MNIST classifier. Every result carries the
sample count it used, because FID is biased by it, and the metrics' version.
"""
from __future__ import annotations

import torch

from ..data import quantize
from ..models import LATENT_DIM
from .density_coverage import K as K_DENSITY, density_coverage
from .features import EXTRACTORS, Extractor, extract
from .fid import frechet_distance, gaussian_stats
from .precision_recall import K as K_PRECISION, precision_recall
from .reference import load_reference
from .version import metrics_version

EVAL_SEED = 1234  # fixed noise for evaluation, so reports along a run are comparable


def inception_count(config: dict, device: torch.device) -> int:
    """Inception samples for the final evaluation; -1 means the protocol's 10,000 on GPU
    and 500 on CPU, where Inception costs ~150 ms per image."""
    n = config["inception_samples"]
    return n if n >= 0 else (10_000 if device.type == "cuda" else 500)


def noise_for_evaluation(n: int, device: torch.device | str = "cpu", *, seed: int = EVAL_SEED,
                         batch: int = 5000) -> torch.Tensor:
    """The evaluation's latent noise [n, 100]: the same for every run, member and report."""
    rng = torch.Generator(device="cpu").manual_seed(seed)
    return torch.cat([torch.randn(min(batch, n - start), LATENT_DIM, generator=rng)
                      for start in range(0, n, batch)]).to(device)


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, *, seed: int = EVAL_SEED, batch: int = 5000) -> torch.Tensor:
    """n generator samples as uint8 [n, 784], from seeded noise, on the generator's device."""
    z = noise_for_evaluation(n, next(generator.parameters()).device, seed=seed)
    was_training = generator.training
    generator.eval()
    out = [quantize(generator(z[start:start + batch])).view(-1, 784) for start in range(0, n, batch)]
    generator.train(was_training)
    return torch.cat(out)


def score_images(images_u8: torch.Tensor, extractor: str | Extractor, *, device: str = "cpu",
                 progress: str | None = None) -> dict[str, float]:
    """fid/precision/recall/density/coverage of uint8 samples [n, 784] against n MNIST test
    images, on an extractor or its name; ``progress`` labels a bar over the feature extraction."""
    if isinstance(extractor, str):
        extractor = EXTRACTORS[extractor](device)
    return score_features(extract(extractor, images_u8, progress), extractor)


def score_features(feats, extractor: Extractor) -> dict[str, float]:
    """The metrics of n samples' features [n, D] against n MNIST test images' (the cached reference)."""
    n = feats.shape[0]
    ref = load_reference(extractor, n)
    feats32 = feats.astype("float32")
    precision, recall = precision_recall(ref.features, feats32, K_PRECISION, real_radii=ref.radii[K_PRECISION])
    density, coverage = density_coverage(ref.features, feats32, K_DENSITY, real_radii=ref.radii[K_DENSITY])
    suffix = "" if extractor.name == "inception" else f"_{extractor.name}"
    return {f"fid{suffix}": frechet_distance(*gaussian_stats(feats), ref.mu, ref.sigma),
            f"precision{suffix}": precision, f"recall{suffix}": recall,
            f"density{suffix}": density, f"coverage{suffix}": coverage}


def evaluate_samples(images_u8: torch.Tensor, *, eval_samples: int, inception_samples: int = 0,
                     probe_samples: int = 0, device: str = "cpu") -> dict[str, float | str]:
    """The protocol on given uint8 samples (at least max(eval_samples, inception_samples, probe_samples) rows):
    MNIST-feature metrics on the first eval_samples, Inception metrics on the first inception_samples, and
    the pruning signal (``metrics.probe``) on the first probe_samples."""
    need = max(eval_samples, inception_samples, probe_samples)
    if images_u8.shape[0] < need:
        raise ValueError(f"{need} samples needed, got {images_u8.shape[0]}")
    mnist = EXTRACTORS["mnist"](device)
    metrics: dict[str, float | str] = {"eval_samples": eval_samples, "metrics_version": metrics_version(mnist.key)}
    metrics.update(score_images(images_u8[:eval_samples], mnist, device=device))
    if inception_samples:
        metrics["inception_samples"] = inception_samples
        metrics.update(score_images(images_u8[:inception_samples], "inception", device=device))
    if probe_samples:
        metrics["probe_samples"] = probe_samples
        metrics.update(score_images(images_u8[:probe_samples], "inception_bf16", device=device))
    return metrics


def evaluate_members(images_u8: torch.Tensor, *, eval_samples: int, inception: list[int], inception_samples: int,
                     probed: list[int] = (), probe_samples: int = 0,
                     device: str = "cpu") -> list[dict[str, float | str]]:
    """The protocol for a population's members at once: uint8 [K, n, 784] → one dict per member. Each
    feature network runs once over every member's samples; Inception only for the members in ``inception``,
    the pruning signal only for those in ``probed``."""
    mnist = EXTRACTORS["mnist"](device)
    size = images_u8.shape[0]
    feats = extract(mnist, images_u8[:, :eval_samples].reshape(-1, 784)).reshape(size, eval_samples, -1)
    out = [{"eval_samples": eval_samples, "metrics_version": metrics_version(mnist.key), **score_features(f, mnist)}
           for f in feats]
    for name, members, n, count_key in (("inception", inception, inception_samples, "inception_samples"),
                                        ("inception_bf16", probed, probe_samples, "probe_samples")):
        if members and n:
            net = EXTRACTORS[name](device)
            chosen = images_u8[list(members), :n].reshape(-1, 784)
            for k, f in zip(members, extract(net, chosen).reshape(len(members), n, -1)):
                out[k].update({count_key: n, **score_features(f, net)})
    return out


def evaluate_generator(generator: torch.nn.Module, *, eval_samples: int, inception_samples: int = 0,
                       probe_samples: int = 0, seed: int = EVAL_SEED) -> dict[str, float | str]:
    """MNIST-feature metrics always; Inception metrics when inception_samples > 0; the pruning signal
    when probe_samples > 0."""
    device = str(next(generator.parameters()).device)
    images = generate(generator, max(eval_samples, inception_samples, probe_samples), seed=seed)
    return evaluate_samples(images, eval_samples=eval_samples, inception_samples=inception_samples,
                            probe_samples=probe_samples, device=device)
