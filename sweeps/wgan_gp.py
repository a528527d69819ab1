"""WGAN-GP: penalty weight λ, n_critic, Adam's settings, batch size, spectral norm and averaging.

    python sweeps/wgan_gp.py --smoke

The first trial is the paper's configuration (preset seed-wgan_gp: λ 10, n_critic 5, Adam 1e-4 (0, 0.9)).
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("wgan_gp", "wgan_gp", __doc__)
