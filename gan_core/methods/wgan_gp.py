"""WGAN-GP (Gulrajani et al. 2017): λ·(‖∇D(x̂)‖₂ − 1)² on interpolates; Adam (0, 0.9), n_critic 5."""
from ..config import Param, lr
from .base import Method, loss_param

METHOD = Method(
    "wgan_gp",
    params={
        "loss": loss_param("wasserstein"),
        "gp_lambda": Param(10.0, float, low=0.0, high=1000.0, low_open=True, help="penalty weight λ"),
        "n_critic": Param(5, int, low=1, high=100),
        "lr_g": lr(1e-4),
        "lr_d": lr(1e-4),
        "beta1": Param(0.0, float, low=0.0, high=0.999),
        "beta2": Param(0.9, float, low=0.0, high=0.9999),
    },
    doc="Wasserstein critic with gradient penalty on interpolates; the paper's Adam settings.",
)
