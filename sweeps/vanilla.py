"""vanilla: Adam's settings, the method's own keys and the discriminator's levers (search_spaces/vanilla.yaml).

    python sweeps/vanilla.py --smoke
    python sweeps/vanilla.py --search-space search_spaces/vanilla_20ep.yaml --num-samples 16 --max-concurrent 1

The first trial is the method's seed preset where it has one (else its defaults).
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("vanilla", "vanilla", __doc__)
