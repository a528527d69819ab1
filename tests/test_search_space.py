import pytest

from gan_core import METHODS, search_space
from gan_core.search_space import SearchSpaceError, validate


@pytest.mark.parametrize("path", sorted(search_space.SPACES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_spaces_load(path):
    from gan_core import registry
    from gan_core.sweep.optuna_search import distributions

    space = search_space.load(path)
    job = registry.get(space.method)
    assert space.search
    assert set(distributions(space)) == set(space.search)
    base = {"base": "run"} if "base" in job.schema else {}  # sampler jobs need a GAN run
    for smoke in (False, True):
        job.resolve({**space.fixed_config(smoke=smoke), **base})


def test_san_space_covers_the_study():
    space = search_space.load("san")
    assert space.search["san_lambda"] == {"type": "loguniform", "low": 0.1, "high": 20.0}
    assert space.search["batch_size"]["choices"] == [64, 128, 256, 512]
    assert {0.0} < set(space.search["d_dropout"]["choices"])
    assert {"lr_g", "lr_d"} <= set(space.search)


@pytest.mark.parametrize("raw, message", [
    ({"method": "san", "search": {"lamda": {"type": "uniform", "low": 0, "high": 1}}}, "search.lamda is not a config key"),
    ({"method": "san", "search": {"san_lambda": {"type": "loguniform", "low": 5, "high": 1}}}, "low (5.0) must be below high"),
    ({"method": "san", "search": {"lr_g": {"type": "loguniform", "low": -1, "high": 1}}}, "lr_g must be > 0"),
    ({"method": "san", "search": {"batch_size": {"type": "categorical", "choices": [64, "big"]}}}, "batch_size must be an integer"),
    ({"method": "san", "search": {"batch_size": {"type": "normal", "mu": 3}}}, "needs type: one of"),
    ({"method": "san", "search": {"san_lambda": {"type": "uniform", "low": 1}}}, "takes exactly low, high"),
    ({"method": "san", "search": {"d_spectral_norm": {"type": "uniform", "low": 0, "high": 1}}}, "must be true or false"),
    ({"method": "san", "fixed": {"epochs": 0}}, "fixed.epochs must be >= 1"),
    ({"method": "san", "fixed": {"san_lambda": 1}, "search": {"san_lambda": {"type": "uniform", "low": 1, "high": 2}}},
     "both fixed and searched"),
    ({"method": "sna"}, "unknown method 'sna'"),
    ({"method": "san", "extra": 1}, "unknown top-level key 'extra'"),
    (["not", "a", "mapping"], "must be a mapping"),
])
def test_bad_spaces_are_clear_errors(raw, message):
    with pytest.raises(SearchSpaceError) as err:
        validate(raw, "bad.yaml")
    assert message in str(err.value) and str(err.value).startswith("bad.yaml: ")


def test_broken_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("method: san\nsearch: {san_lambda: [unclosed\n")
    with pytest.raises(SearchSpaceError, match="broken.yaml: not valid YAML"):
        search_space.load(path)


# the protocol-budget spaces; the small CPU ones (san_laptop, <method>_20ep) leave the seed out on purpose
METHOD_SPACES = [p for p in sorted(search_space.SPACES_DIR.glob("*.yaml")) if not p.stem.endswith(("_laptop", "_20ep"))]


@pytest.mark.parametrize("path", METHOD_SPACES, ids=lambda p: p.stem)
def test_every_study_starts_from_its_seed(path):
    from gan_core import presets, registry
    from gan_core.sweep.plan import first_trials

    space = search_space.load(path)
    job = registry.get(space.method)
    fixed = {**space.fixed_config(), **({"base": "run"} if "base" in job.schema else {})}
    (point,) = first_trials(job, space, fixed, None)
    assert set(point) == set(space.search)
    seed = {**{k: p.default for k, p in job.schema.items()}, **presets.seed_point(space.method)}
    assert point == {k: seed[k] for k in space.search}


def test_new_quality_settings_are_searched_where_the_method_allows_them():
    for method in ("vanilla", "hinge", "san", "wgan_gp", "r1", "mdgan"):
        space = search_space.load(method)
        assert {"lr_g", "lr_d", "beta1", "beta2", "g_ema", "d_spectral_norm"} <= set(space.search), method
        assert space.search["beta1"] == {"type": "uniform", "low": 0.0, "high": 0.9}
    for method in ("san", "hinge"):
        assert {"hinge", "non_saturating"} <= set(search_space.load(method).search["loss"]["choices"])


@pytest.mark.parametrize("name", ["vanilla", "hinge", "san", "r1", "wgan_gp",
                                  "vanilla_20ep", "hinge_20ep", "san_20ep", "r1_20ep", "wgan_gp_20ep"])
def test_the_studies_search_the_discriminators_levers(name):
    space = search_space.load(search_space.SPACES_DIR / f"{name}.yaml")
    # augment left the SAN and WGAN-GP studies once the vanilla and hinge studies pruned all 11 of its trials
    levers = {"d_mbstd", "d_pack", "lr_decay"} | ({"augment"} if name in ("vanilla_20ep", "hinge_20ep") else set())
    assert levers <= set(space.search)
    assert "d_arch" not in space.search  # measured: the conv D collapsed in every setting tried (docs/levers.md)
    if name.endswith("_20ep"):
        assert space.asha == {"grace": 2, "reduction": 3} and space.fixed["epochs"] == 20


def test_a_given_first_trial_outside_the_space_is_refused_and_a_narrow_space_skips_the_seed(capsys):
    from gan_core import registry
    from gan_core.sweep.plan import first_trials

    space = validate({"method": "san", "search": {"san_lambda": {"type": "loguniform", "low": 2, "high": 20}}},
                     "narrow.yaml")
    with pytest.raises(SearchSpaceError, match=r"narrow.yaml: the first trial's san_lambda=1.0 lies outside"):
        first_trials(registry.get("san"), space, {}, [{"san_lambda": 1.0}])
    assert first_trials(registry.get("san"), space, {}, None) == []
    assert "the seed's san_lambda=1.0 lies outside the space" in capsys.readouterr().out
    (point,) = first_trials(registry.get("san"), space, {}, [{"san_lambda": 4.0, "other": 1}])
    assert point == {"san_lambda": 4.0}


def test_presets_resolve_and_name_their_seeds():
    from gan_core import PRESETS, registry

    assert set(PRESETS) == {"seed-vanilla", "seed-hinge", "seed-san", "seed-wgan_gp"}
    for name, preset in PRESETS.items():
        config = registry.get(preset.method).resolve(preset.config)
        assert config["epochs"] == 100 and config["batch_size"] == 64 and config["g_ema"] == 0.0, name
    assert registry.get("san").resolve(PRESETS["seed-san"].config)["loss"] == "hinge"
