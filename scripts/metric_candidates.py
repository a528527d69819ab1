"""Other cheap feature spaces, tried against the validation set's Inception fid: do any rank the best
quarter better than fid_mnist's layer? (docs/metrics.md, "Agreement on trained generators".)

    OMP_NUM_THREADS=1 .venv/bin/python scripts/metric_candidates.py \\
        --validation docs/metric_validation.json --out docs/metric_candidates.json

Each candidate is a Fréchet distance on 10,000 samples against the 10,000 test digits, in a space read
from the MNIST classifier's convolutions (channel means; means and standard deviations; 2x2-pooled maps)
or from the pixels (a grey-level histogram, for speckle), alone and added to fid_mnist after dividing
each by its median. Inception fid is the mean of the two disjoint draws where --inception-check made two.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
from scipy.stats import kendalltau, spearmanr

from gan_core.data import to_unit_range
from gan_core.metrics import mnist_classifier
from gan_core.metrics.evaluate import generate
from gan_core.metrics.fid import frechet_distance, gaussian_stats
from gan_core.metrics.reference import real_images
from gan_core.models import frozen_generator

GREY_LEVELS = [(0, 1), (1, 32), (32, 96), (96, 160), (160, 224), (224, 255), (255, 256)]


@torch.no_grad()
def candidate_features(images_u8: torch.Tensor) -> dict[str, torch.Tensor]:
    model = mnist_classifier.load()
    out: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images_u8), 500):
        u8 = images_u8[start:start + 500]
        a1 = F.relu(model.conv1(to_unit_range(u8).view(-1, 1, 28, 28)))
        a2 = F.relu(model.conv2(a1))
        spaces = {
            "conv1_mean": a1.mean((2, 3)),
            "conv2_mean": a2.mean((2, 3)),
            "conv12_mean_std": torch.cat([a1.mean((2, 3)), a1.std((2, 3)), a2.mean((2, 3)), a2.std((2, 3))], 1),
            "conv2_pool2": F.adaptive_avg_pool2d(a2, 2).flatten(1),
            "grey_histogram": torch.stack([((u8 >= lo) & (u8 < hi)).float().mean(1) for lo, hi in GREY_LEVELS], 1),
            "fid_mnist": mnist_classifier.FEATURE_LAYERS[mnist_classifier.FEATURE_LAYER](
                model, model.fc1(a2.flatten(1))),
        }
        for name, value in spaces.items():
            out.setdefault(name, []).append(value)
    return {name: torch.cat(parts).double() for name, parts in out.items()}


def agreement(rows: list[dict], score) -> tuple[float, float, float]:
    best = sorted(rows, key=lambda r: r["fid"])[:len(rows) // 4]
    rank = lambda rs: spearmanr([score(r) for r in rs], [r["fid"] for r in rs]).statistic
    return rank(rows), rank(best), kendalltau([score(r) for r in best], [r["fid"] for r in best]).statistic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validation", type=Path, default=Path("docs/metric_validation.json"))
    parser.add_argument("--out", type=Path, default=Path("docs/metric_candidates.json"))
    args = parser.parse_args()

    reference = {k: gaussian_stats(v.numpy()) for k, v in candidate_features(real_images("test", 10_000)).items()}
    rows = []
    for r in json.loads(args.validation.read_text())["rows"]:
        state = torch.load(r["file"], map_location="cpu", weights_only=True)
        feats = candidate_features(generate(frozen_generator(state[r["kind"]]), 10_000))
        rows.append({"generator": f"{r['run']}:{r['kind']}:{r['epoch']}",
                     "fid": (r["fid"] + r["fid_b"]) / 2 if "fid_b" in r else r["fid"],
                     **{k: frechet_distance(*gaussian_stats(v.numpy()), *reference[k]) for k, v in feats.items()}})
    names = [k for k in rows[0] if k not in ("generator", "fid")]
    median = {k: statistics.median(r[k] for r in rows) for k in names}
    table = {k: agreement(rows, lambda r, k=k: r[k]) for k in names}
    for a in (n for n in names if n != "fid_mnist"):
        for weight in (0.3, 1.0, 3.0):
            table[f"fid_mnist + {weight}·{a}"] = agreement(
                rows, lambda r, a=a, w=weight: r["fid_mnist"] / median["fid_mnist"] + w * r[a] / median[a])
    args.out.write_text(json.dumps({"rows": rows, "agreement": {k: dict(zip(
        ("spearman", "spearman_best_quarter", "kendall_best_quarter"), v)) for k, v in table.items()}}, indent=1))
    print("| space | Spearman, all | Spearman, best quarter | Kendall, best quarter |\n|---|---|---|---|")
    for name, (every, best, kendall) in sorted(table.items(), key=lambda kv: -kv[1][1]):
        print(f"| {name} | {every:.3f} | {best:.3f} | {kendall:.3f} |")


if __name__ == "__main__":
    main()
