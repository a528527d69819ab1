"""R1 regularization (Mescheder et al. 2018): vanilla plus (γ/2)·E‖∇D(x_real)‖²."""
from ..config import Param
from .base import Method

METHOD = Method(
    "r1",
    params={"r1_gamma": Param(1.0, float, low=0.0, high=1000.0, low_open=True, help="R1 weight γ")},
    doc="Vanilla GAN with the R1 gradient penalty on real data.",
)
