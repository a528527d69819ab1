"""WGAN-GP: penalty weight λ, n_critic, learning rates and batch size.

    python sweeps/wgan_gp.py --smoke
"""
from gan_core.sweep import main

PAPER_POINT = {"gp_lambda": 10.0, "n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "batch_size": 64}

if __name__ == "__main__":
    main("wgan_gp", "wgan_gp", __doc__, points_to_evaluate=[PAPER_POINT])
