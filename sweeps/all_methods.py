"""Every method with the same budget, one sweep each; then DRS and latent reweighting on
each method's best run; ending with a comparison table.

    python sweeps/all_methods.py --smoke
    python sweeps/all_methods.py --num-samples 16 --max-epochs 20 --methods san wgan_gp hinge
    python sweeps/all_methods.py --smoke --methods vanilla --samplers      # no sampler sweeps
"""
import gan_core
from gan_core.sweep import compare

if __name__ == "__main__":
    compare(list(gan_core.METHODS), "all_methods", __doc__)
