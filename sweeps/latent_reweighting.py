"""Latent reweighting on a finished run: λ1, λ2, the cap m and the sampler (RS, GA, RS+GA).

    python sweeps/latent_reweighting.py --smoke --base san
    python sweeps/latent_reweighting.py --base <mlflow run id> --num-samples 16

Each trial trains an importance network w(z) against the frozen generator; its MLflow
run is linked to the generator's run (tag generator_run_id), and the best sampler is
recorded there for best_model(...).sample(). The first trial is the job's defaults.
"""
from gan_core.sweep import main

if __name__ == "__main__":
    main("latent_reweighting", "latent_reweighting", __doc__)
