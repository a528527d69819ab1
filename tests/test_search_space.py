import pytest

from gan_core import METHODS, search_space
from gan_core.search_space import SearchSpaceError, validate


@pytest.mark.parametrize("path", sorted(search_space.SPACES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_spaces_load(path):
    from gan_core import registry

    space = search_space.load(path)
    assert space.method in registry.REGISTRY and space.search
    assert set(space.optuna_distributions()) == set(space.search)
    base = {"base": "run"} if registry.is_sampler_job(space.method) else {}  # sampler jobs need a GAN run
    for smoke in (False, True):
        registry.get(space.method).resolve({**space.fixed_config(smoke=smoke), **base})


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
