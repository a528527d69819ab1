"""gan_core: train, sweep and evaluate GANs on MNIST with the course's fixed generator.

    import gan_core
    gan_core.METHODS                    # method names
    gan_core.train("san", {"max_steps": 200})
    gan_core.trainables.san             # a Ray Tune function trainable
"""
from .methods import REGISTRY as _REGISTRY
from .standalone import train
from . import trainables

METHODS: tuple[str, ...] = tuple(_REGISTRY)

__all__ = ["METHODS", "train", "trainables"]
