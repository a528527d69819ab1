import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from gan_core.data import load_mnist, to_unit_range
from gan_core.metrics import known_cases, mnist_classifier, off_manifold, reference
from gan_core.metrics.density_coverage import density_coverage
from gan_core.metrics.evaluate import evaluate_samples, score_images
from gan_core.metrics.features import extract, inception_extractor, mnist_extractor
from gan_core.metrics.fid import frechet_distance, gaussian_stats
from gan_core.metrics.knn import knn_radii, knn_radii_many
from gan_core.metrics.precision_recall import precision_recall
from gan_core.metrics.version import METRIC_VERSION, metrics_version


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_frechet_distance_matches_pytorch_fid(dim):
    rng = np.random.default_rng(dim)
    a = rng.normal(size=(500, dim))
    b = rng.normal(loc=0.3, size=(400, dim)) @ rng.normal(size=(dim, dim)) * 0.5
    mine = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    theirs = calculate_frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    assert mine == pytest.approx(theirs, rel=1e-6, abs=1e-8)
    assert frechet_distance(*gaussian_stats(a), *gaussian_stats(a)) == pytest.approx(0, abs=1e-8)


def test_precision_recall_known_cases():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(1000, 8)).astype(np.float32)
    p, r = precision_recall(real, real.copy())
    assert p == 1.0 and r == 1.0  # identical sets
    other = rng.normal(size=(1000, 8)).astype(np.float32)
    p, r = precision_recall(real, other)
    assert p > 0.8 and r > 0.8  # same distribution (k=3 balls in 8-d miss a few)
    collapsed = (real[:5].repeat(200, axis=0) + rng.normal(scale=1e-3, size=(1000, 8))).astype(np.float32)
    p, r = precision_recall(real, collapsed)
    assert p > 0.95 and r < 0.1  # a collapsed generator: precise, no recall
    p, r = precision_recall(real, (other + 100).astype(np.float32))
    assert p == 0.0 and r == 0.0  # disjoint sets


def test_precision_recall_equals_the_definition_computed_densely():
    """The chunked single pass against the paper's definition on a full distance matrix;
    sizes not multiples of the chunk, and unequal real/fake counts."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(1)
    real = rng.normal(size=(700, 5)).astype(np.float32)
    fake = (rng.normal(size=(523, 5)) * 0.8 + 0.7).astype(np.float32)
    k = 3

    def radii(x):  # k-th nearest other point; column 0 is the point itself
        return np.sort(cdist(x, x, "sqeuclidean"), axis=1)[:, k]

    d2 = cdist(fake, real, "sqeuclidean")
    precision = (d2 <= radii(real)[None, :]).any(axis=1).mean()
    recall = (d2 <= radii(fake)[:, None]).any(axis=0).mean()
    p, r = precision_recall(real, fake, k)
    assert 0.05 < precision < 0.95 and 0.05 < recall < 0.95  # a case that can tell them apart
    assert p == pytest.approx(precision, abs=2 / 523) and r == pytest.approx(recall, abs=2 / 700)


def test_density_coverage_equal_the_definition_computed_densely():
    """Naeem et al.'s density and coverage on a full distance matrix against the chunked pass;
    unequal counts, sizes not multiples of the chunk; and the shared radii pass."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(2)
    real = rng.normal(size=(611, 6)).astype(np.float32)
    fake = (rng.normal(size=(437, 6)) + 0.8).astype(np.float32)
    k = 5
    radii = np.sort(cdist(real, real, "sqeuclidean"), axis=1)[:, k]  # column 0 is the point itself
    inside = cdist(real, fake, "sqeuclidean") <= radii[:, None]       # real ball i holds fake j
    density, coverage = inside.sum() / (k * len(fake)), inside.any(axis=1).mean()
    d, c = density_coverage(real, fake, k)
    assert 0.1 < density < 0.9 and 0.1 < coverage < 0.9  # a case that can tell them apart
    assert d == pytest.approx(density, abs=2 / (k * 437)) and c == pytest.approx(coverage, abs=2 / 611)
    many = knn_radii_many(torch.from_numpy(real), (3, 5))
    assert np.allclose(many[5].numpy(), radii, rtol=1e-4, atol=1e-5)
    assert torch.equal(many[3], knn_radii(torch.from_numpy(real), 3))


def test_density_coverage_known_cases():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(1000, 8)).astype(np.float32)
    d, c = density_coverage(real, rng.normal(size=(1000, 8)).astype(np.float32))
    assert 0.8 < d < 1.2 and c > 0.9  # same distribution: density ~1, most balls covered
    outlier_ball = np.vstack([real, [[30.0] * 8]]).astype(np.float32)  # one real far out, with a huge ball
    junk = (rng.normal(size=(1000, 8)) + 20).astype(np.float32)
    p, _ = precision_recall(outlier_ball, junk)
    d, c = density_coverage(outlier_ball, junk)
    assert p > 0.5 and d < 0.25 and c < 0.01  # precision is fooled by one outlier; density is not
    collapsed = (real[:3].repeat(300, axis=0) + rng.normal(scale=1e-3, size=(900, 8))).astype(np.float32)
    d, c = density_coverage(real, collapsed)
    assert c < 0.02  # one mode covers almost no real ball


# Known cases on the MNIST features. At 5,000 samples the old features (metric version 1) called
# every junk case precise (0.72 to 1.00); at 2,000 they happened to score flat images 0.
N_CASES = 5000


@pytest.fixture(scope="module")
def real_vs_test():
    return score_images(known_cases.train_digits(N_CASES), "mnist")


@pytest.mark.parametrize("case", list(known_cases.JUNK))
def test_mnist_metrics_call_junk_junk(case, real_vs_test):
    """The issue's cases: noise, grey blobs and blank images scored precision_mnist 0.5-1.0
    on the old features, and a fresh generator's grey noise 1.0."""
    m = score_images(known_cases.JUNK[case](N_CASES), "mnist")
    assert m["precision_mnist"] < 0.05 and m["density_mnist"] < 0.05
    assert m["recall_mnist"] < 0.01 and m["coverage_mnist"] < 0.01
    assert m["fid_mnist"] > 100 * real_vs_test["fid_mnist"]


def test_mnist_metrics_of_one_repeated_digit(real_vs_test):
    m = score_images(known_cases.one_digit(N_CASES), "mnist")
    assert m["precision_mnist"] > 0.9  # a real digit: precise
    assert m["recall_mnist"] < 0.01 and m["coverage_mnist"] < 0.01  # and nothing else
    assert m["fid_mnist"] > 100 * real_vs_test["fid_mnist"]


def test_mnist_metrics_of_real_train_images_against_test(real_vs_test):
    m = real_vs_test
    assert m["precision_mnist"] > 0.8 and m["recall_mnist"] > 0.8
    assert 0.85 < m["density_mnist"] < 1.15 and m["coverage_mnist"] > 0.9
    assert m["fid_mnist"] < 1.0  # uniform noise is ~110 on this scale


def test_every_result_carries_the_metrics_version():
    images = load_mnist("train")[:300]
    m = evaluate_samples(images, eval_samples=300)
    extractor = mnist_extractor()
    assert m["metrics_version"] == metrics_version(extractor.key)
    assert m["metrics_version"].startswith(f"{METRIC_VERSION}/") and extractor.key in m["metrics_version"]
    assert {"fid_mnist", "precision_mnist", "recall_mnist", "density_mnist", "coverage_mnist"} <= set(m)
    other = mnist_extractor(layer="fc1")
    assert metrics_version(other.key) != m["metrics_version"]  # another layer is another metric
    with pytest.raises(ValueError, match="unknown MNIST feature layer"):
        mnist_extractor(layer="fc2")


def test_reference_cache_is_keyed_and_reused():
    extractor = mnist_extractor()
    ref = reference.load_reference(extractor, 300)
    assert ref.path.exists()
    name = ref.path.name
    assert extractor.key in name and f"-v{METRIC_VERSION}-" in name and "-test-n300-k3k5" in name
    assert reference.reference_path(extractor, "test", 301) != ref.path
    assert reference.reference_path(mnist_extractor(layer="fc1"), "test", 300) != ref.path
    again = reference.load_reference(extractor, 300)
    assert np.array_equal(again.mu, ref.mu)
    assert set(again.radii) == {3, 5} and torch.equal(again.radii[5], ref.radii[5])
    assert (ref.radii[5] >= ref.radii[3]).all()


def test_committed_classifier_matches_its_record():
    """The json beside the weights describes these weights: same hash, and the accuracy the
    protocol needs on digits with the not-a-digit class in play."""
    record = json.loads(mnist_classifier.WEIGHTS.with_suffix(".json").read_text())
    assert record["sha256_16"] == mnist_classifier.weights_hash()
    assert record["test_accuracy"] >= 0.99
    assert record["not_a_digit_kinds"] == list(off_manifold.KINDS)
    radius = mnist_classifier.load().feature_radius.item()
    assert radius > 1 and radius == pytest.approx(record["feature_radius"], abs=1e-4)  # set by the script


def test_off_manifold_images_are_deterministic_and_in_range():
    digits = to_unit_range(load_mnist("train")[:90]).view(-1, 1, 28, 28)
    a = off_manifold.off_manifold(digits, torch.Generator().manual_seed(7))
    b = off_manifold.off_manifold(digits, torch.Generator().manual_seed(7))
    assert a.shape == digits.shape and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    for part in torch.tensor_split(a, len(off_manifold.KINDS)):
        assert not torch.equal(part, digits[:part.shape[0]])  # every kind changes its input


def test_inception_path_end_to_end_on_real_images(capsys):
    extractor = inception_extractor()
    feats = extract(extractor, load_mnist("test")[:8])
    assert feats.shape == (8, 2048) and np.isfinite(feats).all()
    assert capsys.readouterr().err == ""  # no bar unless asked
    train_score = score_images(load_mnist("train")[:48], "inception", progress="finalist 1/1: Inception features")
    assert "finalist 1/1: Inception features" in capsys.readouterr().err  # what a person reads while it runs
    noise_score = score_images(torch.randint(0, 256, (48, 784), dtype=torch.uint8), "inception")
    assert set(train_score) == {"fid", "precision", "recall", "density", "coverage"}
    assert 0 < train_score["fid"] < noise_score["fid"]


def test_missing_inception_weights_is_a_clear_error(tmp_path, env):
    env = {**env, "TORCH_HOME": str(tmp_path / "empty_torch_home")}
    code = "from gan_core.metrics.inception import load; load()"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "InceptionWeightsError" in result.stderr and "TORCH_HOME" in result.stderr
