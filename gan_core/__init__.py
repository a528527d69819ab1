"""gan_core: train, sweep and evaluate GANs on MNIST with the course's fixed generator.

    import gan_core
    gan_core.METHODS                    # method names
    gan_core.train("san", {"max_steps": 200})
    gan_core.trainables.san             # a Ray Tune function trainable
    gan_core.best_model("san").sample(16)
    gan_core.best_model("san").sample(16, sampler="drs")   # gan_core.SAMPLERS

The names that reach MLflow or Ray load on first use, so importing the core (loop, methods,
metrics) stays light.
"""
from importlib import import_module

from .methods import REGISTRY as _REGISTRY
from .presets import PRESETS
from .sampling import SAMPLERS
from .standalone import train

METHODS: tuple[str, ...] = tuple(_REGISTRY)

_LAZY = {"best_model": "gan_model", "from_checkpoint": "gan_model", "GanModel": "gan_model", "trainables": None}

__all__ = ["METHODS", "SAMPLERS", "PRESETS", "GanModel", "best_model", "from_checkpoint", "train", "trainables"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'gan_core' has no attribute {name!r}")
    module = import_module(f".{_LAZY[name] or name}", __name__)
    return module if _LAZY[name] is None else getattr(module, name)
