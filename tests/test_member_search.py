"""The per-member search of population sweeps: Optuna proposes members, ASHA judges each as a trial."""
import random

import pytest
from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler

from gan_core import search_space
from gan_core.sweep.member_search import MemberSearch

SPACE = search_space.validate({"method": "san", "search": {
    "san_lambda": {"type": "loguniform", "low": 0.1, "high": 10},
    "batch_size": {"type": "categorical", "choices": [64, 128]}}}, "test.yaml")


def search(tmp_path, num_samples=12, **kwargs):
    options = dict(space=SPACE, fixed={"epochs": 9}, metric="fid_mnist", seed=0, num_samples=num_samples, max_t=9,
                   grace_period=1, reduction_factor=3, early_stopping=True, points=[], folder=tmp_path / "s",
                   study_name="test", signature_of=lambda c: f"batch_size={c['batch_size']}")
    return MemberSearch(**{**options, **kwargs})


def test_members_are_judged_exactly_as_ashascheduler_judges_trials(tmp_path):
    """One recorded sequence of (member, report, value), fed to the per-member rule and to Ray's
    ASHAScheduler with real Trial objects: the same stop/continue decisions."""
    ours = search(tmp_path)
    theirs = ASHAScheduler(time_attr="training_iteration", metric="fid_mnist", mode="min", max_t=9, grace_period=1,
                           reduction_factor=3)
    members = [ours.take("p0") for _ in range(8)]
    trials = {m.member_id: Trial("fake", config={}, trial_id=m.member_id, stub=True) for m in members}
    for trial in trials.values():
        theirs.on_trial_add(None, trial)
    rng = random.Random(0)
    alive = {m.member_id: 0 for m in members}
    decisions = 0
    while alive:  # members report in an interleaved, uneven order, as populations would
        member_id = rng.choice(sorted(alive))
        alive[member_id] += 1
        value = rng.uniform(10, 100) / alive[member_id]
        expected = theirs.on_trial_result(None, trials[member_id],
                                          {"training_iteration": alive[member_id], "fid_mnist": value})
        got = ours.report(member_id, value)
        assert got == expected.lower(), (member_id, alive[member_id], value)
        decisions += 1
        if got == "stop" or alive[member_id] == 9:
            if got == "continue":
                ours.end(member_id, "completed")
            del alive[member_id]
    assert decisions > 8 and ours.asha._num_stopped > 0


def test_pruned_members_reach_optuna_as_pruned_with_their_last_value(tmp_path):
    ours = search(tmp_path, num_samples=6)
    ids = [ours.take("p0").member_id for _ in range(6)]
    ours.report(ids[0], 50.0)
    ours.report(ids[0], 40.0)
    ours.end(ids[0], "pruned")
    ours.report(ids[1], 30.0)
    ours.end(ids[1], "completed")
    ours.end(ids[2], "diverged")
    trials = {t.number: t for t in ours.study.trials}
    pruned, done, failed = (trials[ours.records[i].number] for i in ids[:3])
    assert pruned.state == TrialState.PRUNED and pruned.intermediate_values == {1: 50.0, 2: 40.0}
    assert pruned.value == 40.0  # Optuna keeps the last intermediate value of a pruned trial
    assert done.state == TrialState.COMPLETE and done.value == 30.0
    assert failed.state == TrialState.FAIL
    assert [ours.records[i].status for i in ids[:3]] == ["pruned", "completed", "diverged"]


def test_take_keeps_a_population_to_one_signature_and_stops_at_num_samples(tmp_path):
    ours = search(tmp_path, num_samples=10)
    first = ours.take("p0")
    same = [ours.take("p0", first.signature) for _ in range(3)]
    assert all(m.signature == first.signature for m in same if m is not None)
    other = ours.take("p1")  # a new group takes whatever comes next, queued proposals first
    assert other is not None
    taken = [first, *same, other]
    while (m := ours.take("p2")) is not None:
        taken.append(m)
    assert len({m.member_id for m in taken if m}) == 10 and ours.take("p3") is None


def test_a_restarted_search_has_every_member_where_it_was(tmp_path):
    ours = search(tmp_path, num_samples=4)
    a, b = ours.take("p0"), ours.take("p0")
    ours.report(a.member_id, 10.0)
    ours.end(a.member_id, "completed")
    assert ours.report(b.member_id, 5.0) == "continue"  # better than a at the first rung
    again = search(tmp_path, num_samples=4)
    assert again.records[a.member_id].status == "completed"
    assert again.records[b.member_id].status == "running" and again.records[b.member_id].values == [5.0]
    assert again.report(b.member_id, 15.0) in ("continue", "stop")  # its Optuna trial reopened
    c = again.take("p0")
    assert c.member_id not in (a.member_id, b.member_id)  # no member proposed twice


def test_the_coordinator_logs_members_ends_diverged_ones_and_refills_their_slots(tmp_path):
    """The coordinator as a plain object (Ray only hosts it): child runs, statuses, replacements."""
    import io

    from mlflow import MlflowClient
    from PIL import Image

    from gan_core import methods, tracking
    from gan_core.sweep.coordinator import Coordinator

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep_run = tracking.SweepRun.start(uri, "san", "study-1", {"population": 2})
    options = dict(space=SPACE, fixed={"epochs": 9}, metric="fid_mnist", seed=0, num_samples=3, max_t=3,
                   grace_period=1, reduction_factor=3, early_stopping=True, points=[], folder=str(tmp_path / "s"),
                   study_name="study-1", signature_of=lambda c: "one")
    coordinator = Coordinator(options, sweep_run, methods.get("san"))
    group = coordinator.take("p0", None, 2)
    assert len(group) == 2 and all(config["epochs"] == 9 for _, config in group)  # resolved configs
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="PNG")
    (a, _), (b, _) = group
    decisions = coordinator.judge("p0", [
        {"member_id": a, "index": 1, "grid": buffer.getvalue(), "state": None,
         "metrics": {"status": "diverged", "reason": "san member 0 diverged by step 25", "member_step": 25}},
        {"member_id": b, "index": 1, "grid": buffer.getvalue(), "state": None,
         "metrics": {"status": "running", "fid_mnist": 40.0, "member_step": 20, "final": False}}])
    assert decisions[b] == ("continue", None)
    action, replacement = decisions[a]
    assert action == "stop" and replacement is not None and replacement[0] not in (a, b)
    c = MlflowClient(uri)
    runs = {r.data.tags["trial_id"]: r for r in c.search_runs([sweep_run.experiment_id], "tags.role = 'trial'")}
    assert runs[a].data.tags["status"] == "diverged" and runs[a].info.status == "FAILED"
    assert "diverged by step 25" in runs[a].data.tags["stop_reason"]
    assert runs[b].data.metrics["quality/fid_mnist"] == 40.0 and runs[b].data.params["population"] == "p0"
    assert c.list_artifacts(runs[b].info.run_id, "images")
    assert coordinator.fail_unfinished("its population failed: test") == [b, replacement[0]]
    assert {r["member_id"]: r["status"] for r in coordinator.records()} == {
        a: "diverged", b: "failed", replacement[0]: "failed"}
