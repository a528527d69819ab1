"""The pure rules of comparison, champion and best sampler (ranking.py), on hand-made run records."""
import pytest

from gan_core import ranking
from gan_core.ranking import RunRecord, Score


def run(run_id, version="v1", **metrics):
    return RunRecord(run_id, metrics, tags={ranking.VERSION_TAG: version})


def test_rank_compares_only_runs_with_the_same_sample_count():
    runs = [run("a", fid=30.0, inception_samples=500), run("b", fid=10.0, inception_samples=100),
            run("c", fid=20.0, inception_samples=500), run("d", fid_mnist=5.0, eval_samples=10000)]
    ranked, used = ranking.rank(runs, "fid")
    assert used == "fid" and [r.run_id for r in ranked] == ["c", "a"]  # b's 100 samples are not comparable


def test_rank_keeps_one_metric_version():
    runs = [run("a", "v1", fid_mnist=3.0, eval_samples=10), run("b", "v2", fid_mnist=1.0, eval_samples=10),
            run("c", "v2", fid_mnist=2.0, eval_samples=10)]
    assert [r.run_id for r in ranking.rank(runs, "fid_mnist")[0]] == ["b", "c"]


def test_rank_falls_back_to_fid_mnist_and_orders_higher_is_better_metrics():
    runs = [run("a", fid_mnist=3.0, precision_mnist=0.9, eval_samples=10),
            run("b", fid_mnist=1.0, precision_mnist=0.5, eval_samples=10)]
    with pytest.warns(UserWarning, match="ranking by 'fid_mnist'"):
        ranked, used = ranking.rank(runs, "fid")
    assert used == "fid_mnist" and ranked[0].run_id == "b"
    assert ranking.rank(runs, "precision_mnist")[0][0].run_id == "a"
    assert ranking.rank([], "fid_mnist") == ([], "fid_mnist")


def test_count_keys_and_directions():
    assert ranking.count_key("fid") == ranking.count_key("recall") == "inception_samples"
    assert ranking.count_key("fid_mnist") == ranking.count_key("coverage_mnist") == "eval_samples"
    assert ranking.higher_is_better("density_mnist") and not ranking.higher_is_better("fid")


@pytest.mark.parametrize("candidate, champion, promoted", [
    (Score("fid", 10.0, 500, "v1"), None, True),                             # first champion
    (Score("fid", 10.0, 500, "v1"), Score("fid", 12.0, 500, "v1"), True),    # strictly better
    (Score("fid", 12.0, 500, "v1"), Score("fid", 12.0, 500, "v1"), False),   # a tie keeps the champion
    (Score("fid", 14.0, 500, "v1"), Score("fid", 12.0, 500, "v1"), False),   # worse
    (Score("fid", 30.0, 10000, "v1"), Score("fid", 12.0, 500, "v1"), True),  # more samples: the protocol wins
    (Score("fid", 5.0, 100, "v1"), Score("fid", 12.0, 500, "v1"), False),    # fewer samples never displace
    (Score("fid", 20.0, 500, "2/a"), Score("fid", 12.0, 500, "1/a"), True),  # newer metric definitions
    (Score("fid", 10.0, 500, "1/a"), Score("fid", 12.0, 500, "2/a"), False),  # never older ones
    (Score("fid", 20.0, 500, "v1"), Score("fid_mnist", 2.0, 10000, "v1"), True),  # Inception over the proxy
    (Score("fid_mnist", 1.0, 10000, "v1"), Score("fid", 20.0, 500, "v1"), False),  # never the proxy over it
])
def test_champion_rule(candidate, champion, promoted):
    assert ranking.beats_champion(candidate, champion) is promoted


def test_sampler_record_rule():
    plain = {"fid": 20.0, "inception_samples": 500, "fid_mnist": 9.0, "eval_samples": 10000}
    assert ranking.sampler_improves({"fid": 18.0, "inception_samples": 500}, plain)
    assert not ranking.sampler_improves({"fid": 21.0, "inception_samples": 500, "fid_mnist": 1.0,
                                         "eval_samples": 10000}, plain)          # Inception decides first
    assert ranking.sampler_improves({"fid": 1.0, "inception_samples": 32, "fid_mnist": 8.0,
                                     "eval_samples": 10000}, plain)              # counts differ: fid_mnist
    assert not ranking.sampler_improves({"fid": 1.0, "inception_samples": 32}, plain)  # nothing comparable
    assert not ranking.sampler_improves({"fid": 1.0, "inception_samples": 500}, plain, "v2", "v1")
    assert ranking.comparable_metric(plain, plain) == "fid"
