"""Train the small MNIST classifier behind fid_mnist and commit its weights.

    OMP_NUM_THREADS=1 GAN_DATA_DIR=../shared/data .venv/bin/python scripts/train_mnist_classifier.py

Ten digit classes plus an eleventh, "not a digit", whose images off_manifold.py makes
on the fly (noise, grey blobs, flat images, heavy blur, speckle, overlays, inversions):
it pushes junk away from digits in the feature space the metrics use. Writes
gan_core/metrics/weights/mnist_classifier.pt and a .json beside it that records how it
was trained and what it scores. Deterministic on CPU for a seed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_core.data import data_root, load_mnist, to_unit_range
from gan_core.metrics.mnist_classifier import NOT_A_DIGIT, WEIGHTS, MnistClassifier, weights_hash
from gan_core.metrics.off_manifold import KINDS, off_manifold

BATCH = 128
HELD_OUT_SEED = 12345  # the junk the test accuracy is measured on, never seen in training


def labels(split: str) -> torch.Tensor:
    from torchvision.datasets import MNIST
    return MNIST(str(data_root()), train=split == "train", download=False).targets


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels: cheap, batched, and worth ~0.3% accuracy."""
    x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return x[:, :, dy:dy + 28, dx:dx + 28]


@torch.no_grad()
def scores(model: MnistClassifier, digits: torch.Tensor, y: torch.Tensor, junk: torch.Tensor) -> dict[str, float]:
    """Accuracy on digits over all 11 classes (calling a digit junk is an error), the same
    over the 10 digit logits only, and the share of held-out junk called junk, per kind."""
    model.eval()
    logits = model(digits)
    out = {"test_accuracy": (logits.argmax(1) == y).float().mean().item(),
           "test_accuracy_10_logits": (logits[:, :NOT_A_DIGIT].argmax(1) == y).float().mean().item()}
    called_junk = model(junk).argmax(1) == NOT_A_DIGIT
    for name, part in zip(KINDS, torch.tensor_split(called_junk, len(KINDS))):
        out[f"junk_detected.{name}"] = part.float().mean().item()
    return out


@torch.no_grad()
def feature_radius(model: MnistClassifier, digits: torch.Tensor) -> float:
    """The 99.9th percentile of the training digits' ReLU-feature norms (see fc1_relu_ball10)."""
    model.eval()
    norms = torch.cat([F.relu(model.features(digits[i:i + 5000])).norm(dim=1) for i in range(0, len(digits), 5000)])
    return torch.quantile(norms, 0.999).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--junk-per-batch", type=int, default=36, help="not-a-digit images added to each batch of 128")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_train = to_unit_range(load_mnist("train")).view(-1, 1, 28, 28)
    y_train = labels("train")
    x_test = to_unit_range(load_mnist("test")).view(-1, 1, 28, 28)
    y_test = labels("test")
    held_out_junk = off_manifold(x_test, torch.Generator().manual_seed(HELD_OUT_SEED))
    junk_labels = torch.full((args.junk_per_batch,), NOT_A_DIGIT)

    model = MnistClassifier()
    steps = 60000 // BATCH
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * steps)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(60000, generator=gen)
        for i in range(steps):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            digits = augment(x_train[idx], gen)
            # junk from other digits of the same batch, in a fresh order, so kinds see every class
            junk = off_manifold(digits[torch.randperm(BATCH, generator=gen)[:args.junk_per_batch]], gen)
            loss = F.cross_entropy(model(torch.cat([digits, junk])), torch.cat([y_train[idx], junk_labels]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        result = scores(model, x_test, y_test, held_out_junk)
        print(f"epoch {epoch + 1}/{args.epochs}: test accuracy {result['test_accuracy']:.4f}, junk detected "
              f"{min(v for k, v in result.items() if k.startswith('junk')):.3f} at worst "
              f"({time.time() - start:.0f} s)", flush=True)

    model.feature_radius.fill_(feature_radius(model, x_train))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    record = {**{k: round(v, 4) for k, v in result.items()},
              "classes": "10 digits + not-a-digit", "not_a_digit_kinds": list(KINDS),
              "junk_per_batch": args.junk_per_batch, "batch": BATCH, "epochs": args.epochs, "seed": args.seed,
              "feature_radius": round(model.feature_radius.item(), 4),
              "augment": "shifts up to 2 px", "optimizer": "Adam, OneCycle max_lr 3e-3",
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "sha256_16": weights_hash(args.out), "train_seconds": round(time.time() - start)}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
