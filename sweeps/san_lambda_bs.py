"""SAN: λ × batch size × dropout, the loss on h, Adam's settings, spectral norm and averaging.

    python sweeps/san_lambda_bs.py --smoke                 # minutes on a laptop CPU
    ray submit infra/cluster.yaml sweeps/san_lambda_bs.py  # the same script on a cluster

The first trial is the seed study's configuration (preset seed-san: Inception FID 19.04 at 100 epochs).
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("san", "san_lambda_bs", __doc__)
