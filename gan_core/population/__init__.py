"""Populations: many configurations of one method trained as one batched computation on one device.

    members.py   which configs can share a population, and the step config (per-member values as tensors)
    stacked.py   K modules as one callable: the class's own forward under vmap over stacked weights
    linear.py    their Linear layers as one batched matmul each (a vmap rule of our own), forward and backward
    optim.py     Adam, RMSprop and SGD over stacked weights with per-member hyperparameters
    trainer.py   PopulationTrainer: ``gan_trainer.make_train_step`` on stacked G and D, driven by ``loop.drive``
    run.py       train_population: one folder per member, in a single run's format, and the spread
"""
from .members import REFUSED, check_method
from .run import train_population
from .trainer import PopulationTrainer

__all__ = ["PopulationTrainer", "train_population", "check_method", "REFUSED"]
