"""Discriminator rejection sampling on a finished run: the γ percentile and ε.

    python sweeps/drs.py --smoke --base san             # on the san champion
    python sweeps/drs.py --base <mlflow run id> --num-samples 16

The first trial is the paper's default (γ at the 95th percentile). The best trial is recorded
on the GAN run, so best_model(...).sample() uses DRS by default when it beats plain sampling there.
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("drs", "drs", __doc__)
