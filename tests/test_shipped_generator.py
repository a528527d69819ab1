"""The shipped generator (gan_core/weights/best_generator.pt): a plain state dict that loads into the fixed
Generator, draws digits, and whose provenance file names the study it came from and the figures it has."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from gan_core.metrics.evaluate import evaluate_samples, generate
from gan_core.models import Generator

WEIGHTS = Path(__file__).resolve().parents[1] / "gan_core" / "weights" / "best_generator.pt"


def test_the_shipped_generator_loads_into_the_fixed_generator_and_draws_digits():
    G = Generator()
    G.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))  # strict: every weight, no other
    metrics = evaluate_samples(generate(G.eval(), 1000), eval_samples=1000)
    assert metrics["fid_mnist"] < 5 and metrics["recall_mnist"] > 0.5, metrics  # an untrained G reads thousands


def test_its_provenance_names_the_study_and_the_scored_rows():
    meta = json.loads(WEIGHTS.with_suffix(".json").read_text())
    assert {"method", "study", "trial_id", "config", "command", "rows", "commit", "machine"} <= set(meta)
    assert {row["mapping"] for row in meta["rows"]} == {"protocol", "template"}  # the headline, and the seeds' mapping
    assert all(row["inception_samples"] == 10_000 for row in meta["rows"])


def test_gan_sample_writes_its_pngs(tmp_path, env):
    result = subprocess.run([sys.executable, "-m", "gan_core.cli", "sample", str(WEIGHTS), "--n", "5", "--out",
                             str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [f"{i}.png" for i in range(5)]
