"""SAN: λ × batch size × dropout (and learning rates), starting from the seed study's point.

    python sweeps/san_lambda_bs.py --smoke                 # minutes on a laptop CPU
    ray submit infra/cluster.yaml sweeps/san_lambda_bs.py  # the same script on a cluster
"""
from gan_core.sweep import main

# The seed study's configuration (Inception FID 19.04 at 100 epochs) is the first trial.
SEED_POINT = {"san_lambda": 1.0, "batch_size": 64, "d_dropout": 0.0, "lr_g": 2e-4, "lr_d": 2e-4}

if __name__ == "__main__":
    main("san", "san_lambda_bs", __doc__, points_to_evaluate=[SEED_POINT])
