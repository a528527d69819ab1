"""Population-based training inside a population: Ray's PBT rules, exploits as device copies, replayed schedules."""
import json
import random
import subprocess
import sys

import pytest
import torch

import gan_core
from gan_core import methods
from gan_core.population import PopulationTrainer, train_population
from gan_core.population import pbt
from conftest import TINY

SPACE = {"lr_d": pbt.Range(1e-5, 1e-2), "san_lambda": pbt.Range(0.1, 10.0), "beta1": pbt.Range(0.0, 0.9, log=False)}


def test_pbt_rules_decide_what_rays_population_based_training_decides():
    """One recorded sequence of results (8 members, 6 rounds, ties and a NaN included) through Ray's own
    PopulationBasedTraining (its quantiles and explore, synchronous mode's order) and through pbt.decide:
    the same losers, donors and perturbed configs, round after round."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers.pbt import _PBTTrialState

    ray_space = {k: (lambda r=r: r.sample(random)) for k, r in SPACE.items()}  # Ray draws from the global random
    theirs = PopulationBasedTraining(time_attr="training_iteration", metric="fid_mnist", mode="min",
                                     perturbation_interval=1, hyperparam_mutations=ray_space, synch=True)
    configs = {k: {"lr_d": 2e-4 * (k + 1), "san_lambda": 1.0 + k / 4, "beta1": 0.5, "seed": k} for k in range(8)}
    trials = {k: Trial("fake", config=dict(c), trial_id=f"t{k}", stub=True) for k, c in configs.items()}
    for trial in trials.values():
        theirs._trial_state[trial] = _PBTTrialState(trial)
    recorded = random.Random(7)
    exploits = 0
    for round_ in range(1, 7):
        results = {k: round(recorded.uniform(5, 50), 1) for k in configs}
        results[3] = results[5] if round_ == 2 else results[3]  # a tie
        results[6] = float("nan") if round_ == 4 else results[6]  # a member without a score
        for k, trial in trials.items():
            theirs._save_trial_state(theirs._trial_state[trial], round_, {"fid_mnist": results[k]}, trial)
        random.seed(round_)
        lower, upper = theirs._quantiles()
        expected = []
        for trial in lower:  # _checkpoint_or_exploit's draws, in synchronous mode's order (upper, middle, lower)
            donor = random.choice(upper)
            new_config, _ = theirs._get_new_config(trial, donor)
            expected.append((trial, donor, {k: SPACE[k].clip(v) if k in SPACE else v for k, v in new_config.items()}))
        ours = pbt.decide({k: -v for k, v in results.items()}, configs, SPACE, random.Random(round_))
        index = {trial: k for k, trial in trials.items()}
        assert [(e.member, e.donor) for e in ours] == [(index[t], index[d]) for t, d, _ in expected]
        for e, (trial, _, config) in zip(ours, expected):
            assert e.config == pytest.approx(config)
            trial.set_config(config)
            configs[e.member] = e.config
            assert all(SPACE[k].low <= e.config[k] <= SPACE[k].high for k in SPACE)
        exploits += len(ours)
    assert exploits == 6 * 2  # ceil(8 · 25%) = 2 per round


def _trainer(k=4):
    method = methods.get("san")
    configs = [method.resolve({**TINY, "max_steps": 20, "eval_every_steps": 5, "seed": s, "g_ema": 0.99,
                               "lr_d": 2e-4 * (1 + s), "san_lambda": 1.0 + s}) for s in range(k)]
    return method, PopulationTrainer(method, configs, torch.device("cpu"))


def test_an_exploit_copies_the_donor_on_the_device_and_explores_within_bounds():
    method, trainer = _trainer()
    for _ in range(3):
        trainer.step()
    space = pbt.mutations(method, trainer.configs[0])
    assert {"lr_g", "lr_d", "san_lambda"} <= set(space) and not {"g_ema", "d_dropout", "seed"} & set(space)
    donor_config = dict(trainer.configs[2])
    explored, operations = pbt.explore(donor_config, space, random.Random(0))
    trainer.exploit(0, 2, explored)
    for stacked in (trainer.G.params, trainer.G_ema, trainer.D.params, trainer.D.buffers):
        assert all(torch.equal(t[0], t[2]) for t in stacked.values())
    for opt in (trainer.opt_g, trainer.opt_d):
        assert opt.steps[0] == opt.steps[2] == 3
        assert opt.state and all(torch.equal(t[0], t[2]) for t in opt.state.values())  # the moments, [K, N] each
    assert int(trainer.ema_updates[0]) == 3 and trainer.rng.counter[0] == trainer.rng.counter[2]
    assert trainer.batches.position[0] == trainer.batches.position[2]
    for key, where in space.items():  # perturbed ×0.8 or ×1.2, or resampled, always within the range
        value, before = trainer.configs[0][key], donor_config[key]
        assert where.low <= value <= where.high
        assert operations[key] == "resample" or value == pytest.approx(where.clip(before * float(operations[key][2:])))
    assert float(trainer.opt_d.lr[0]) == pytest.approx(trainer.configs[0]["lr_d"])
    assert float(trainer.config["san_lambda"][0]) == pytest.approx(trainer.configs[0]["san_lambda"])
    assert trainer.configs[0]["seed"] == 2  # the donor's streams: a replay starts from its root
    trainer.step()  # and both go on training
    assert not torch.equal(trainer.G.params["fc1.weight"][0], trainer.G.params["fc1.weight"][2])


def test_a_replayed_champion_schedule_reproduces_its_metrics(tmp_path, float64):
    """PBT in a population, then the champion's schedule from scratch as one run: the same numbers (float64)."""
    config = {**TINY, "max_steps": 12, "eval_every_steps": 3, "batch_size": 32, "g_ema": 0.99}
    members = [{**config, "seed": s, "lr_d": [1e-4, 4e-4, 2e-3, 8e-3][s], "san_lambda": [0.5, 1.0, 2.0, 4.0][s]}
               for s in range(4)]
    seen = []
    finals = train_population("san", members, out_dir=tmp_path / "pop", scheduler="pbt",
                              on_report=lambda m, s, x: seen.append(m))
    lineage = json.loads((tmp_path / "pop" / "pbt.json").read_text())["lineage"]
    parents = [(r["step"], k, r["pbt_parent"]) for members in seen for k, r in enumerate(members) if "pbt_parent" in r]
    # ceil(4 · 25%) = 1 member a round, after reports 1 to 3 (never after the last)
    assert [step for step, _, _ in parents] == [3, 6, 9] and all(donor != k for _, k, donor in parents)
    assert all(lineage[k]["parents"][-1][1] == donor for step, k, donor in parents if step == 9)  # the last round
    assert all(f"hp_{k}" in seen[0][0] for k in ("lr_d", "san_lambda"))
    champion = json.loads((tmp_path / "pop" / "champion_schedule.json").read_text())
    best = min(range(4), key=lambda k: finals[k]["fid_mnist"])
    assert champion["member"] == best and champion["schedule"] == lineage[best]["schedule"]
    assert champion["schedule"] and champion["parents"]  # the champion took a donor's state at least once
    replayed = []
    gan_core.train("san", champion["config"], schedule_of=champion["schedule"],
                   on_report=lambda m, s, x: replayed.append(m))
    assert len(replayed) == 4
    for key in ("fid_mnist", "loss_d", "loss_g"):
        assert replayed[-1][key] == pytest.approx(finals[best][key], rel=1e-9, abs=1e-12), key


def test_a_sweeps_population_runs_pbt_through_serve():
    """serve(scheduler="pbt") with plain callables: no member stops early, a quarter exploits after each report
    but the last, reports carry hyperparameters and parents, and finished members their lineage."""
    from gan_core.population.serve import serve

    method = methods.get("san")
    queue = [(f"m{i}", method.resolve({**TINY, "max_steps": 6, "eval_every_steps": 2, "seed": i,
                                        "lr_d": 1e-4 * 4 ** i})) for i in range(4)]
    reports = []

    def take(signature, count):
        group = queue[:count]
        del queue[:count]
        return group

    def judge(batch):
        reports.extend(batch)
        return {r["member_id"]: ("stop", None) if r["metrics"]["final"] else ("continue", None) for r in batch}

    saves = []
    assert serve(method, torch.device("cpu"), slots=4, take=take, judge=judge, save=saves.append,
                 scheduler="pbt") == 4
    assert len(reports) == 4 * 3 and all("hp_lr_d" in r["metrics"] for r in reports)
    exploited = [r for r in reports if "parent" in r]
    assert len(exploited) == 2 and all(r["parent"] != r["member_id"] for r in exploited)
    finals = [r for r in reports if r["metrics"]["final"]]
    assert len(finals) == 4 and all(r["state"]["member_step"] == 6 for r in finals)
    for r in exploited:
        lineage = next(f["lineage"] for f in finals if f["member_id"] == r["member_id"])
        assert lineage["schedule"] and lineage["parents"]
    assert saves[-1]["pbt"]["reports"] == 3


def test_the_coordinator_tags_parents_and_saves_a_members_schedule(tmp_path):
    from mlflow import MlflowClient

    from gan_core import tracking
    from gan_core.sweep.coordinator import SCHEDULE, Coordinator

    from test_member_search import SPACE

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep_run = tracking.SweepRun.start(uri, "san", "study-pbt", {"population": 2})
    options = dict(space=SPACE, fixed={"epochs": 2}, metric="fid_mnist", seed=0, num_samples=2, max_t=2,
                   grace_period=1, reduction_factor=3, early_stopping=False, points=[], folder=str(tmp_path / "s"),
                   study_name="study-pbt", signature_of=lambda c: "one")
    coordinator = Coordinator(options, sweep_run, methods.get("san"))
    (a, config_a), (b, _) = coordinator.take("p0", None, 2)
    from gan_core.images import grid_png

    grid = grid_png(torch.zeros(4, 784, dtype=torch.uint8))
    decisions = coordinator.judge("p0", [
        {"member_id": a, "index": 1, "grid": grid, "state": None, "parent": b,
         "metrics": {"fid_mnist": 50.0, "member_step": 10, "final": False, "hp_lr_d": 2e-4}},
        {"member_id": b, "index": 1, "grid": grid, "state": None,
         "metrics": {"fid_mnist": 20.0, "member_step": 10, "final": False, "hp_lr_d": 4e-4}}])
    assert decisions == {a: ("continue", None), b: ("continue", None)}  # PBT stops no one early
    _, trainer = _trainer(1)
    state = trainer.member_state(0)
    lineage = {"config": config_a, "schedule": [[10, {"lr_d": 3.2e-4}]], "parents": [[10, 1]]}
    coordinator.judge("p0", [{"member_id": a, "index": 2, "grid": grid, "state": state, "lineage": lineage,
                              "metrics": {"fid_mnist": 15.0, "member_step": 20, "final": True, "hp_lr_d": 3.2e-4}}])
    c = MlflowClient(uri)
    run = {r.data.tags["trial_id"]: r for r in c.search_runs([sweep_run.experiment_id], "tags.role = 'trial'")}[a]
    assert run.data.tags["pbt_parent"] == b and run.data.tags["pbt_parent.step_10"] == b
    assert [m.value for m in c.get_metric_history(run.info.run_id, "hp_lr_d")] == [2e-4, 3.2e-4]
    folder = c.download_artifacts(run.info.run_id, "", str(tmp_path / "dl"))
    saved = json.loads(next((tmp_path / "dl").rglob(SCHEDULE)).read_text())
    assert saved["method"] == "san" and saved["schedule"] == [[10, {"lr_d": 3.2e-4}]] and folder


def test_gan_train_runs_pbt_and_replays_the_champions_schedule(tmp_path, env):
    common = ["--method", "san", "--max-steps", "6", "--quiet", "--set", "inception_samples=0",
              "--set", "eval_samples=200", "--set", "eval_every_steps=2"]
    gan = lambda *args: subprocess.run([sys.executable, "-m", "gan_core.cli", "train", *common, *args], env=env,
                                       capture_output=True, text=True, timeout=300)
    refused = gan("--scheduler", "pbt", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "--scheduler pbt judges the members of a population" in refused.stderr
    result = gan("--population", "4", "--scheduler", "pbt", "--out", str(tmp_path / "pop"))
    assert result.returncode == 0, result.stderr
    champion = json.loads((tmp_path / "pop" / "champion_schedule.json").read_text())
    assert champion["method"] == "san" and len(json.loads((tmp_path / "pop" / "pbt.json").read_text())["lineage"]) == 4
    replay = gan("--schedule", str(tmp_path / "pop" / "champion_schedule.json"), "--out", str(tmp_path / "replay"))
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout.splitlines()[0])["step"] == 6
    wrong = subprocess.run([sys.executable, "-m", "gan_core.cli", "train", "--method", "hinge", "--schedule",
                            str(tmp_path / "pop" / "champion_schedule.json")], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "is a 'san' schedule, not 'hinge'" in wrong.stderr


def test_a_pbt_sweep_needs_a_population(tmp_path):
    from gan_core import sweep
    from gan_core.errors import ConfigError

    with pytest.raises(ConfigError, match="--scheduler pbt copies members inside a population: give --population K"):
        sweep.run_sweep("san", study="pbt", scheduler="pbt", smoke=True, storage_path=str(tmp_path / "r"),
                        tracking_uri=f"sqlite:///{tmp_path}/m.db")


def test_a_search_spaces_continuous_keys_are_what_pbt_perturbs():
    from gan_core import search_space

    space = pbt.ranges(search_space.load("san").search)
    assert space["san_lambda"] == pbt.Range(0.1, 20.0, True) and space["beta1"] == pbt.Range(0.0, 0.9, False)
    assert "batch_size" not in space and "g_ema" not in space  # categorical keys stay as proposed
    assert set(pbt.mutations(methods.get("san"), {}, space)) == {"san_lambda", "lr_g", "lr_d", "beta1"}


def test_a_pbt_population_resumes_with_its_members_explored_hyperparameters(tmp_path):
    config = {**TINY, "max_steps": 8, "eval_every_steps": 2, "eval_samples": 200}
    members = [{**config, "seed": s, "lr_d": 1e-4 * 3 ** s} for s in range(4)]
    full = train_population("san", members, out_dir=tmp_path / "full", scheduler="pbt")
    train_population("san", [{**m, "max_steps": 4} for m in members], out_dir=tmp_path / "part", scheduler="pbt")
    resumed = train_population("san", members, out_dir=tmp_path / "part", scheduler="pbt", resume=True)
    assert [m["fid_mnist"] for m in resumed] == pytest.approx([m["fid_mnist"] for m in full], rel=1e-6)
    assert [m["hp_lr_d"] for m in resumed] == pytest.approx([m["hp_lr_d"] for m in full], rel=1e-12)
