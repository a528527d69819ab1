"""Populations: K members trained as one batched computation compute what K separate runs compute."""
import json
import statistics

import pytest
import torch

import gan_core
from gan_core import checkpoint, methods
from gan_core.errors import CheckpointError, ConfigError
from gan_core.gan_trainer import GanTrainer
from gan_core.models import Generator
from gan_core.population import PopulationTrainer, train_population
from gan_core.population.optim import StackedOptimizer
from gan_core.population.stacked import Stacked
from conftest import TINY

BUDGET = {**TINY, "max_steps": 20, "eval_every_steps": 10}
# Per method: members that differ in every numeric hyperparameter the method has, and in seed.
MEMBERS = {
    "vanilla": [{"seed": 0}, {"seed": 1, "lr_d": 1e-3, "beta1": 0.5, "d_dropout": 0.3, "g_ema": 0.99},
                {"seed": 2, "lr_g": 5e-5, "beta2": 0.9}],
    "wgan": [{"seed": 0}, {"seed": 1, "clip": 0.05, "lr_d": 1e-4}, {"seed": 2, "lr_g": 1e-4}],
    "wgan_gp": [{"seed": 0}, {"seed": 1, "gp_lambda": 1.0, "beta1": 0.5}, {"seed": 2, "lr_d": 3e-4}],
    "hinge": [{"seed": 0}, {"seed": 1, "lr_d": 4e-4, "d_dropout": 0.2}, {"seed": 2, "beta1": 0.0}],
    "san": [{"seed": 0}, {"seed": 1, "san_lambda": 5.0, "g_ema": 0.999}, {"seed": 2, "d_dropout": 0.3}],
    "r1": [{"seed": 0}, {"seed": 1, "r1_gamma": 10.0}, {"seed": 2, "lr_g": 1e-4}],
    "mdgan": [{"seed": 0}, {"seed": 1, "md_lambda": 3.0}, {"seed": 2, "lr_d": 1e-4, "beta1": 0.5}],
}


# Shared settings the equivalence tests also cross: other loss pairs, spectral norm (its power iteration per member).
VARIANTS = [(method, {}) for method in MEMBERS] + [
    ("vanilla", {"loss": "least_squares", "d_spectral_norm": True}),
    ("wgan_gp", {"loss": "hinge", "d_spectral_norm": True}),
    ("r1", {"loss": "minimax"}),
    ("san", {"loss": "hinge", "d_spectral_norm": True}),
    # the discriminator's levers: a conv body, augmentation's per-member draws, packing, a schedule
    ("hinge", {"d_arch": "conv", "d_width": 8, "augment": "color,translation,cutout", "lr_decay": "linear"}),
    ("san", {"d_mbstd": True, "d_pack": 2, "augment": "translation", "augment_p": 0.5}),
    ("mdgan", {"d_arch": "conv", "d_width": 8, "d_mbstd": True}),
]


def _close(a, b, rel, abs_=1e-4):
    return a == pytest.approx(b, rel=rel, abs=abs_)


def _population_and_runs(method, configs):
    """Every member's reports from one population, and each member's reports trained alone."""
    seen = []
    train_population(method, configs, on_report=lambda members, state, samples: seen.append(members))
    alone = []
    for config in configs:
        runs = []
        gan_core.train(method, config, on_report=lambda metrics, state, samples: runs.append(metrics))
        alone.append(runs)
    return seen, alone


def _assert_same_reports(method, configs, seen, alone, rel, abs_):
    expected = len(alone[0])
    assert expected == configs[0]["max_steps"] // configs[0]["eval_every_steps"] and len(seen) == expected
    for k, runs in enumerate(alone):
        assert len(runs) == expected, (method, k, len(runs))
        for report, single in zip([members[k] for members in seen], runs):
            assert report["step"] == single["step"]
            for key in ("loss_d", "loss_g", "d_real", "d_fake", "fid_mnist", "precision_mnist", "recall_mnist"):
                assert _close(report[key], single[key], rel, abs_), (method, k, report["step"], key, report[key],
                                                                     single[key])


@pytest.mark.parametrize("method, shared", VARIANTS, ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}={x}" for k, x in v.items()) or "defaults")
def test_a_population_computes_what_separate_runs_compute(method, shared, float64):
    """In float64 over 8 steps (batches of 32 keep it quick): a real difference (a member's penalty, draws or
    update) shows at once, while float32 rounding, which GAN dynamics amplify step by step, is out of the picture."""
    members = MEMBERS[method][1:] if shared else MEMBERS[method]  # a variant: the two members that differ
    configs = [{**TINY, "max_steps": 8, "eval_every_steps": 4, "batch_size": 32, **shared, **m} for m in members]
    seen, alone = _population_and_runs(method, configs)
    _assert_same_reports(method, configs, seen, alone, rel=1e-9, abs_=1e-12)


@pytest.mark.parametrize("method", list(MEMBERS))
def test_a_population_computes_the_first_steps_of_separate_runs_in_float32(method):
    """The default dtype: the first two steps agree to float32 rounding (batched against single kernels)."""
    configs = [{**TINY, "max_steps": 2, "eval_every_steps": 1, **m} for m in MEMBERS[method]]
    seen, alone = _population_and_runs(method, configs)
    _assert_same_reports(method, configs, seen, alone, rel=1e-5, abs_=1e-6)


def test_members_generators_are_the_fixed_generator():
    configs = [methods.get("hinge").resolve({**BUDGET, "seed": s, "g_ema": g}) for s, g in ((0, 0.0), (1, 0.99))]
    trainer = PopulationTrainer(methods.get("hinge"), configs, torch.device("cpu"))
    for _ in range(3):
        trainer.step()
    z = torch.randn(6, 100)
    stacked = trainer.G(z, shared=True)
    for k in range(2):
        member = trainer.member_state(k)
        G = Generator()
        G.load_state_dict(member["generator_raw"] if "generator_raw" in member else member["generator"])
        assert torch.allclose(G(z), stacked[k], atol=1e-6)
        served = Generator()
        served.load_state_dict(member["generator"], strict=True)  # the export loads into Generator() unchanged
        # one format: a member's checkpoint holds what the same run's does, and the run loads it
        run = GanTrainer(methods.get("hinge"), configs[k], torch.device("cpu"))
        assert set(member) - {"member_step"} == set(run.state_dict())
        run.load_state_dict(member)
        assert torch.allclose(run.G(z), stacked[k], atol=1e-6)
        assert all(torch.equal(v, member["generator"][n]) for n, v in run.served.state_dict().items())


def test_stacked_linear_layers_compute_each_members_layer_and_its_second_derivatives():
    """Linear layers under ``Stacked`` run our own vmap rule (``population.linear``): each member's output, and the
    gradients of a gradient penalty (a derivative of a derivative) into its weights, are its own layer's."""
    torch.manual_seed(0)
    layers = [torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
              for _ in range(2)]
    stacked = Stacked(layers)
    z = torch.randn(4, 5, dtype=torch.float64)
    for k, layer in enumerate(layers):  # an input every member shares
        assert torch.allclose(stacked(z, shared=True)[k], layer(z), rtol=1e-12, atol=1e-12)
    for shape in ((2, 4, 5), (2, 5), (2, 3, 4, 5)):  # a member's input [B, in], [in] and [B1, B2, in]
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(stacked(x).pow(2).sum(), x, create_graph=True)
        grad.pow(2).sum().backward()
        for k, layer in enumerate(layers):
            layer.zero_grad()
            xk = x[k].detach().requires_grad_(True)
            assert torch.allclose(stacked(x)[k], layer(xk), rtol=1e-12, atol=1e-12)
            (grad_k,) = torch.autograd.grad(layer(xk).pow(2).sum(), xk, create_graph=True)
            grad_k.pow(2).sum().backward()
            for name, p in layer.named_parameters():
                assert torch.allclose(stacked.params[name].grad[k], p.grad, rtol=1e-10, atol=1e-12), (shape, k, name)
        for p in stacked.parameters():
            p.grad = None


@pytest.mark.parametrize("kind, torch_kind, extra", [("adam", torch.optim.Adam, {}),
                                                     ("rmsprop", torch.optim.RMSprop, {}),
                                                     ("sgd", torch.optim.SGD, {})])
def test_stacked_optimizers_match_torch_per_member(kind, torch_kind, extra):
    torch.manual_seed(0)
    lrs, beta1s, beta2s = [1e-3, 3e-4, 5e-2], [0.9, 0.0, 0.5], [0.999, 0.9, 0.99]
    start = torch.randn(3, 4, 5)
    stacked = start.clone().requires_grad_(True)
    opt = StackedOptimizer([stacked], kind, torch.tensor(lrs),
                           (torch.tensor(beta1s), torch.tensor(beta2s)) if kind == "adam" else None)
    singles = [start[k].clone().requires_grad_(True) for k in range(3)]
    refs = [torch_kind([p], lr=lrs[k], **({"betas": (beta1s[k], beta2s[k])} if kind == "adam" else {}))
            for k, p in enumerate(singles)]
    for step in range(5):
        grads = torch.randn(3, 4, 5)
        stacked.grad = grads.clone()
        opt.step()
        for k in range(3):
            singles[k].grad = grads[k].clone()
            refs[k].step()
            assert torch.allclose(stacked[k], singles[k], rtol=1e-5, atol=1e-7), (kind, step, k)


def test_refusals_are_one_line_and_say_why():
    with pytest.raises(ConfigError, match="unrolled cannot train in a population: its generator loss"):
        train_population("unrolled", {**BUDGET}, size=2)
    with pytest.raises(ConfigError, match=r"members differ in batch_size \(64 vs 128\)"):
        PopulationTrainer(methods.get("san"), [methods.get("san").resolve({**BUDGET, "batch_size": b})
                                               for b in (64, 128)], torch.device("cpu"))
    with pytest.raises(ConfigError, match="drs is a sampler job"):
        train_population("drs", {"base": "x"}, size=2)
    with pytest.raises(ConfigError, match="needs a size of at least 1"):
        train_population("san", {**BUDGET}, size=0)


def test_population_folders_resume_exactly_and_members_serve_like_runs(tmp_path):
    config = {**BUDGET, "max_steps": 20, "eval_every_steps": 10, "g_ema": 0.99}
    full = train_population("san", config, size=2, out_dir=tmp_path / "full")
    train_population("san", {**config, "max_steps": 10}, size=2, out_dir=tmp_path / "part")
    # the single run's resume rule: the same budget or other settings are refused, a longer budget goes on
    with pytest.raises(CheckpointError, match="has already trained its 10 steps; give a longer budget"):
        train_population("san", {**config, "max_steps": 10}, size=2, out_dir=tmp_path / "part", resume=True)
    with pytest.raises(CheckpointError, match=r"member 0 of .* was trained with other settings \(lr_d"):
        train_population("san", {**config, "lr_d": 1e-3}, size=2, out_dir=tmp_path / "part", resume=True)
    with pytest.raises(CheckpointError, match="holds a population of 2 members, not 3"):
        train_population("san", config, size=3, out_dir=tmp_path / "part", resume=True)
    resumed = train_population("san", config, size=2, out_dir=tmp_path / "part", resume=True)
    for a, b in zip(full, resumed):
        assert b["step"] == 20 and _close(a["fid_mnist"], b["fid_mnist"], 1e-6)
    spread = json.loads((tmp_path / "full" / "spread.json").read_text())["fid_mnist"]
    scores = [m["fid_mnist"] for m in full]
    assert spread == pytest.approx({"mean": statistics.fmean(scores), "std": statistics.stdev(scores),
                                    "min": min(scores), "max": max(scores), "members": 2})
    assert spread["min"] < spread["max"]  # two seeds never score the same
    # a member's folder is a run's: it resumes alone, and the samplers take its checkpoint
    member = tmp_path / "full" / "member_001"
    state = checkpoint.load(member / checkpoint.FILE, method="san")
    assert state["config"]["seed"] == 1 and state["step"] == 20
    more = gan_core.train("san", {**state["config"], "max_steps": 30}, out_dir=member, resume=True)
    assert more["step"] == 30
    drs = gan_core.train("drs", {"base": str(member / checkpoint.FILE), "calibration_samples": 500,
                                 "burn_in": 500, "eval_samples": 200, "inception_samples": 0})
    assert 0 < drs["acceptance_rate"] <= 1


def test_a_diverging_member_is_retired_and_the_others_go_on():
    config = {**BUDGET, "optimizer": "sgd", "max_steps": 60, "eval_every_steps": 30}
    seen = []
    finals = train_population("san", [{**config, "lr_d": 2e-4}, {**config, "lr_d": 10.0, "seed": 1}],
                              on_report=lambda members, state, samples: seen.append(([dict(m) for m in members],
                                                                                     state["cost"])))
    assert finals[0]["status"] == "completed" and finals[0]["step"] == 60 and "fid_mnist" in finals[0]
    assert finals[1]["status"] == "diverged" and "member 1 diverged by step" in finals[1]["reason"]
    # its cost stops where it was retired; the member still training is charged the rest of the process's
    (first, _), (last, process) = seen[0], seen[-1]
    assert first[1]["status"] == "diverged" and last[1]["cpu_seconds"] == first[1]["cpu_seconds"]
    assert last[0]["cpu_seconds"] + last[1]["cpu_seconds"] == pytest.approx(process["cpu_seconds"], rel=1e-9)
    assert last[0]["cpu_seconds"] > last[1]["cpu_seconds"]


def test_the_divergence_check_keeps_its_cadence_when_slot_0_is_refilled():
    """The check runs every CHECK_EVERY population steps, whatever the ages of the members in slot 0."""
    from gan_core import loop

    method = methods.get("san")
    config = {**BUDGET, "optimizer": "sgd", "max_steps": 60}
    trainer = PopulationTrainer(method, [method.resolve({**config, "lr_d": 2e-4}),
                                         method.resolve({**config, "lr_d": 10.0, "seed": 1})], torch.device("cpu"))
    for start in range(0, 2 * loop.CHECK_EVERY, 10):
        loop.train_until(trainer, start, start + 10)
        trainer.replace(0, method.resolve({**config, "seed": 10 + start}))  # slot 0 never grows old
    assert trainer.ages[0] == 0 and 1 in trainer.deaths and "member 1 diverged by step" in trainer.deaths[1]


def test_a_logged_member_is_served_by_best_model(tmp_path):
    """A member's folder logged as a finished MLflow run: best_model and sampling take it like a run's."""
    from gan_core import tracking

    out = tmp_path / "pop"
    finals = train_population("hinge", {**BUDGET, "max_steps": 10, "eval_every_steps": 10}, size=2, out_dir=out)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = tracking.SweepRun.start(uri, "hinge", "members", {"population": 2})
    for k, metrics in enumerate(finals):
        run_id = sweep.trial_run(f"member-{k}", json.loads((out / "population.json").read_text())["configs"][k])
        sweep.log_report(run_id, metrics)
        sweep.log_checkpoint(run_id, out / f"member_{k:03d}")
        sweep.end_trial(run_id, "completed")
    model = gan_core.best_model("hinge", tracking_uri=uri)
    best = min(range(2), key=lambda k: finals[k]["fid_mnist"])
    assert model.metrics["fid_mnist"] == pytest.approx(finals[best]["fid_mnist"])
    assert model.sample(4, seed=0).shape == (4, 1, 28, 28)
    assert model.sample(4, sampler="drs", seed=0).shape == (4, 1, 28, 28)


def test_a_replaced_member_computes_what_a_fresh_run_computes():
    """A sweep refills a stopped member's slot: the newcomer trains from its own step 0."""
    from gan_core import loop

    method = methods.get("wgan_gp")
    configs = [method.resolve({**BUDGET, "seed": s, "d_dropout": 0.2}) for s in (0, 1)]
    trainer = PopulationTrainer(method, configs, torch.device("cpu"))
    loop.train_until(trainer, 0, 7)
    newcomer = method.resolve({**BUDGET, "seed": 5, "lr_d": 3e-4, "beta1": 0.5, "gp_lambda": 3.0})
    trainer.replace(1, newcomer)
    interval = loop.train_until(trainer, 0, 10)
    after = trainer.metrics(False, interval.means(), {})[1]
    reports = []
    gan_core.train("wgan_gp", newcomer, on_report=lambda metrics, state, samples: reports.append(metrics))
    alone = reports[0]  # its report at its own step 10
    assert after["member_step"] == 10 and trainer.ages[0] == 17
    for key in ("loss_d", "loss_g", "fid_mnist"):
        assert _close(after[key], alone[key], 1e-3), (key, after[key], alone[key])


def test_serve_trains_a_sweeps_members_through_the_one_report_loop():
    """serve with plain callables (a sweep's coordinator in Ray gives the same three): a stopped member's slot
    is refilled, finished members hand back their checkpoint, and reports carry the loop's timing."""
    from gan_core.population.serve import serve

    method = methods.get("san")
    queue = [(f"m{i}", method.resolve({**BUDGET, "max_steps": 4, "eval_every_steps": 2, "seed": i}))
             for i in range(3)]
    reports, saves = [], []

    def take(signature, count):
        group = queue[:count]
        del queue[:count]
        return group

    def judge(batch):
        reports.extend(batch)
        return {r["member_id"]: ("stop", queue.pop(0) if queue else None) if r["member_id"] == "m0"
                else ("stop", None) if r["metrics"]["final"] else ("continue", None) for r in batch}

    assert serve(method, torch.device("cpu"), slots=2, take=take, judge=judge, save=saves.append) == 3
    steps = {}
    for r in reports:
        steps.setdefault(r["member_id"], []).append(r["metrics"]["member_step"])
    assert steps == {"m0": [2], "m1": [2, 4], "m2": [2, 4]}  # m2 took m0's slot and trained its own 4 steps
    finished = [r for r in reports if r["metrics"]["final"]]
    assert sorted(r["member_id"] for r in finished) == ["m1", "m2"]
    assert all(r["state"]["member_step"] == 4 and r["state"]["config"]["seed"] == int(r["member_id"][1])
               for r in finished)
    assert all(r["metrics"]["train_seconds"] > 0 and r["metrics"]["images_per_s"] > 0 for r in reports)
    assert len(saves) == 3 and saves[-1]["active"] == [False, False] and saves[-1]["ids"] == ["m2", "m1"]
