"""r1: Adam's settings, the method's own keys and the discriminator's levers (search_spaces/r1.yaml).

    python sweeps/r1.py --smoke
    python sweeps/r1.py --search-space search_spaces/r1_20ep.yaml --num-samples 16 --max-concurrent 1

The first trial is the method's seed preset where it has one (else its defaults).
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("r1", "r1", __doc__)
