"""hinge: Adam's settings, the method's own keys and the discriminator's levers (search_spaces/hinge.yaml).

    python sweeps/hinge.py --smoke
    python sweeps/hinge.py --search-space search_spaces/hinge_20ep.yaml --num-samples 16 --max-concurrent 1

The first trial is the method's seed preset where it has one (else its defaults).
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("hinge", "hinge", __doc__)
