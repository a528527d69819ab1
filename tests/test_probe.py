"""The pruning signal (gan_core.metrics.probe): computed where Ray's ASHA decides, carried between, the
sweeps' default, logged only when fresh; its values on known cases."""
import math

import pytest
import torch
from mlflow import MlflowClient
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler

import gan_core
from gan_core import ranking, search_space
from gan_core.errors import ConfigError
from gan_core.metrics import probe
from gan_core.metrics.evaluate import evaluate_samples
from gan_core.population import train_population
from gan_core.sweep.plan import SweepOptions, make_plan
from gan_core.tracking.metric_names import logged
from gan_core.tracking.sweep_run import SweepRun
from conftest import TINY

PROBE = {**TINY, "probe_samples": 32}


@pytest.mark.parametrize("grace, reduction, max_t", [(1, 3, 30), (2, 3, 20), (1, 2, 17), (3, 2.5, 40), (1, 4, 64)])
def test_the_signal_is_fresh_at_every_report_where_rays_asha_decides(grace, reduction, max_t):
    """Feed one trial's reports to Ray's ASHAScheduler: every report at which it records the trial in a rung
    (where it compares trials) must be a probe report; the rest are the first and last."""
    asha = ASHAScheduler(time_attr="training_iteration", metric=probe.SIGNAL, mode="min", max_t=max_t,
                         grace_period=grace, reduction_factor=reduction)
    trial = Trial("fake", config={}, trial_id="t0", stub=True)
    asha.on_trial_add(None, trial)
    bracket = asha._trial_info[trial.trial_id]
    decided = []
    for report in range(1, max_t + 1):
        before = sum(trial.trial_id in recorded for _, recorded in bracket._rungs)
        asha.on_trial_result(None, trial, {"training_iteration": report, probe.SIGNAL: 100.0 / report})
        if sum(trial.trial_id in recorded for _, recorded in bracket._rungs) > before:
            decided.append(report)
    probed = [r for r in range(1, max_t + 1) if probe.is_probe_report(r, r == max_t, grace, reduction)]
    assert decided and set(decided) <= set(probed), (decided, probed)
    assert set(probed) - set(decided) <= {max_t}  # no probe that no rung reads, but the last
    assert len(probed) <= 2 + math.ceil(math.log(max_t / grace, reduction)) + 1  # a few probes, not every report


def test_under_pbt_the_signal_is_fresh_at_every_round():
    assert all(probe.is_probe_report(r, False, 5, 3, every=1) for r in range(1, 10))
    assert [r for r in range(1, 10) if probe.is_probe_report(r, r == 9, 1, 3, every=4)] == [4, 8, 9]


def test_a_run_carries_the_signal_between_rungs_and_checkpoints_it():
    reports = []
    config = {**PROBE, "max_steps": 50, "eval_every_steps": 10, "probe_grace": 2, "probe_reduction": 2}
    gan_core.train("hinge", config, on_report=lambda m, s, x: reports.append((m, s)))
    assert [m["probe_fresh"] for m, _ in reports] == [False, True, False, True, True]  # the rungs 2, 4 and last
    assert reports[0][0][probe.SIGNAL] == math.inf  # before the first rung: a placeholder no rung reads
    carried, before = reports[2][0], reports[1][0]
    assert carried[probe.SIGNAL] == before[probe.SIGNAL] and carried["probe_samples"] == 32
    assert reports[3][0][probe.SIGNAL] != before[probe.SIGNAL]
    assert reports[2][1]["last_probe"][probe.SIGNAL] == before[probe.SIGNAL]  # a resume carries it on


def test_population_members_carry_the_signal_as_runs_do():
    seen = []
    configs = [{**PROBE, "max_steps": 30, "eval_every_steps": 10, "probe_grace": 2, "seed": s} for s in (0, 1)]
    train_population("hinge", configs, on_report=lambda members, state, samples: seen.append(members))
    for members in seen:
        assert all(probe.SIGNAL in m for m in members)
    assert [m["probe_fresh"] for m in (report[0] for report in seen)] == [False, True, True]  # rung 2, last
    assert seen[0][0][probe.SIGNAL] == math.inf and seen[1][0][probe.SIGNAL] != seen[1][1][probe.SIGNAL]


def test_mlflow_records_only_fresh_values(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = SweepRun.start(uri, "hinge", "probe-test", {"study": "probe-test"})
    run_id = sweep.trial_run("t0", {"lr_g": 1e-3})
    for step, (value, fresh) in enumerate([(50.0, True), (50.0, False), (40.0, True)], start=1):
        sweep.log_report(run_id, {"step": step, "fid_mnist": 10.0 / step, probe.SIGNAL: value,
                                  "probe_samples": 32, "probe_fresh": fresh})
    history = MlflowClient(uri).get_metric_history(run_id, logged(probe.SIGNAL))
    assert [(m.step, m.value) for m in history] == [(1, 50.0), (3, 40.0)]
    assert len(MlflowClient(uri).get_metric_history(run_id, logged("fid_mnist"))) == 3


def test_the_signal_orders_known_cases_as_inception_does():
    """Real digits and noise: the bf16 signal orders them as float32 Inception does, at about its values."""
    from gan_core.data import load_mnist

    digits = load_mnist("train")[:32]
    noise = torch.randint(0, 256, digits.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    scores = [evaluate_samples(x, eval_samples=32, inception_samples=32, probe_samples=32) for x in (digits, noise)]
    fids, signals = [s["fid"] for s in scores], [s[probe.SIGNAL] for s in scores]
    assert fids[0] < fids[1] and signals[0] < signals[1]
    assert signals == pytest.approx(fids, rel=0.15)  # bf16 features within a few per cent of float32's


def test_sweeps_prune_on_the_signal_by_default_with_the_spaces_rungs(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    space = search_space.validate({"method": "hinge", "fixed": {"epochs": 20}, "asha": {"grace": 2, "reduction": 3},
                                   "search": {"lr_g": {"type": "loguniform", "low": 1e-4, "high": 1e-3}}})
    plan = make_plan("hinge", "t", SweepOptions(tracking_uri=uri, storage_path=str(tmp_path)), space)
    assert plan.options.metric == probe.SIGNAL and plan.options.grace_period == 2 and plan.reduction_factor == 3
    assert plan.fixed["probe_grace"] == 2 and plan.fixed["probe_reduction"] == 3.0
    assert plan.resolved["probe_samples"] == probe.SAMPLES  # a standalone run's default is 0: sweeps turn it on
    params = plan.parent_params({"cpu": 1, "gpu": 0})
    assert params["signal"] == probe.SIGNAL and params["signal_version"] == probe.version()
    # --metric fid_mnist still works, and does not pay for the signal
    plan = make_plan("hinge", "t", SweepOptions(metric="fid_mnist", tracking_uri=uri, storage_path=str(tmp_path)),
                     space)
    assert plan.options.metric == "fid_mnist" and plan.resolved["probe_samples"] == 0
    # the flag beats the space
    plan = make_plan("hinge", "t", SweepOptions(grace_period=1, reduction_factor=2, tracking_uri=uri,
                                                storage_path=str(tmp_path)), space)
    assert plan.fixed["probe_grace"] == 1 and plan.fixed["probe_reduction"] == 2.0
    # PBT judges members after every report: the signal is fresh at each
    plan = make_plan("hinge", "t", SweepOptions(population=4, scheduler="pbt", tracking_uri=uri,
                                                storage_path=str(tmp_path)), space)
    assert plan.options.metric == probe.SIGNAL and plan.fixed["probe_every"] == 1


@pytest.mark.parametrize("asha, words", [({"grace": 0}, "asha.grace must be"), ({"reduction": 1}, "asha.reduction"),
                                         ({"rungs": 3}, "asha must be a mapping"), ("fast", "asha must be a mapping")])
def test_bad_asha_sections_are_refused_in_one_line(asha, words):
    with pytest.raises(ConfigError, match=words):
        search_space.validate({"method": "hinge", "asha": asha})


def test_the_signal_ranks_on_its_own_sample_count():
    assert ranking.count_key(probe.SIGNAL) == "probe_samples"
    runs = [ranking.RunRecord("a", {probe.SIGNAL: 50.0, "probe_samples": 250}),
            ranking.RunRecord("b", {probe.SIGNAL: 40.0, "probe_samples": 32}),
            ranking.RunRecord("c", {probe.SIGNAL: 45.0, "probe_samples": 250})]
    ranked, used = ranking.rank(runs, probe.SIGNAL)
    assert used == probe.SIGNAL and [r.run_id for r in ranked] == ["c", "a"]
