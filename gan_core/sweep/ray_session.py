"""Ray for a sweep: join the cluster this node belongs to or start a local Ray, find an experiment to resume,
and size each trial."""
from __future__ import annotations

import os
import re

import pyarrow.fs as pafs
import ray
from ray import tune

from ..errors import ConfigError


def init_ray() -> None:
    if ray.is_initialized():
        return
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")  # experiment state often: resume loses little
    address = os.environ.get("RAY_ADDRESS")
    if address:  # `ray job submit`, KubeRay's RayJob, or the user; "local" forces a private instance
        ray.init(address=address, **({"include_dashboard": False} if address == "local" else {}))
        return
    # No address: join the cluster that `ray start` recorded on this node (a head that `ray submit`
    # runs us on), else start a local Ray. Not address="auto": that also joins any other Ray
    # instance found running on the machine, such as another user's sweep, and dies with it.
    try:
        ray.init(include_dashboard=False)
    except ConnectionError:  # a stale record of a `ray start` cluster that is gone
        ray.init(address="local", include_dashboard=False)


def latest_experiment(storage_uri: str, study: str) -> tuple[str, str]:
    """(path, name) of the newest restorable <study>-* experiment, local or on S3/GCS."""
    fs, root = pafs.FileSystem.from_uri(storage_uri)
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    own = re.compile(rf"{re.escape(study)}-\d{{8}}-\d{{6}}$")  # not all_methods-wgan-drs-* for all_methods-wgan
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory and own.match(i.base_name))
    for name in reversed(names):
        path = f"{storage_uri.rstrip('/')}/{name}"
        if tune.Tuner.can_restore(path):
            return path, name
    raise ConfigError(f"--resume: no restorable {study}-* experiment under {storage_uri}")


def trial_resources(space_resources: dict[str, float], cpus: float | None = None, gpus: float | None = None) -> dict:
    """Per-trial resources: the arguments (flags, $GAN_*_PER_TRIAL), else the space's ``resources:``,
    else 1 CPU and, where the cluster has GPUs now, a quarter GPU (4 trials share one)."""
    cpus = space_resources.get("cpu", 1.0) if cpus is None else cpus
    gpus = space_resources.get("gpu") if gpus is None else gpus
    if gpus is None:
        gpus = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return {"cpu": float(cpus), "gpu": float(gpus)}
