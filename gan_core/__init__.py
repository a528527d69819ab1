"""gan_core: train, sweep and evaluate GANs on MNIST with the course's fixed generator.

    import gan_core
    gan_core.METHODS                    # method names
    gan_core.train("san", {"max_steps": 200})
    gan_core.trainables.san             # a Ray Tune function trainable
    gan_core.best_model("san").sample(16)
    gan_core.best_model("san").sample(16, sampler="drs")   # gan_core.SAMPLERS
"""
from .methods import REGISTRY as _REGISTRY
from .standalone import train
from .model import GanModel, best_model
from . import trainables
from .sampling import SAMPLERS

METHODS: tuple[str, ...] = tuple(_REGISTRY)

__all__ = ["METHODS", "SAMPLERS", "GanModel", "best_model", "train", "trainables"]
