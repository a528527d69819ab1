"""infra/ is valid: the cluster-launcher configs by Ray's own validation, the KubeRay and
Kubernetes manifests by structure (no network here for schema downloads), the scripts by bash."""
import copy
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
CLUSTER_CONFIGS = ["cluster.yaml", "cluster-gcp.yaml"]
IMAGE = "gan-sweeps"


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_every_yaml_in_infra_parses():
    files = sorted(INFRA.rglob("*.yaml")) + sorted(INFRA.rglob("*.yml"))
    assert len(files) >= 5
    for path in files:
        assert load_all(path), f"{path} is empty"


@pytest.mark.parametrize("name", CLUSTER_CONFIGS)
def test_cluster_config_passes_rays_validation(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((INFRA / name).read_text())
    config = prepare_config(copy.deepcopy(raw))  # merges the provider's defaults, as `ray up` does
    validate_config(config)                      # Ray's JSON schema (raises on any unknown or bad field)
    nodes = config["available_node_types"]
    head, worker = nodes[config["head_node_type"]], nodes["gpu_worker"]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] == 0  # the head runs no trials
    assert worker["resources"]["GPU"] >= 2 and worker["min_workers"] == 0 and worker["max_workers"] >= 1
    assert config["idle_timeout_minutes"] > 0


@pytest.mark.parametrize("name", CLUSTER_CONFIGS)
def test_cluster_config_ships_the_project_token_and_server(name):
    config = yaml.safe_load((INFRA / name).read_text())
    mounts = config["file_mounts"]
    assert mounts["/home/ubuntu/gan"] == "."                          # the project, on every node
    assert mounts["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"  # one token for all nodes
    setup = "\n".join(config["setup_commands"])
    assert '"ray[default,tune]"' in setup and "constraints.txt" in setup and "[cluster]" in setup
    head_setup = "\n".join(config["head_setup_commands"])
    assert "infra/postgres_local.sh start" in head_setup and "infra/mlflow_server.sh" in head_setup
    assert "GAN_STORAGE_PATH=$GAN_BUCKET" in head_setup and "MLFLOW_TRACKING_URI=http://" in head_setup
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = "\n".join(config[key])
        assert "RAY_AUTH_MODE=token" in start and "RAY_AUTH_TOKEN_PATH" in start  # token auth stays on
        assert "MLFLOW_TRACKING_URI=http://" in start and ":5000" in start     # trials inherit it
    assert "disabled" not in yaml.safe_dump(config)
    env = (INFRA / "cluster.env").read_text()
    assert "GAN_BUCKET=" in env


def by_kind(docs: list[dict]) -> dict[tuple[str, str], dict]:
    out = {}
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d), d
        assert d["metadata"].get("name"), d
        out[(d["kind"], d["metadata"]["name"])] = d
    return out


def containers(pod_spec: dict) -> list[dict]:
    assert pod_spec.get("containers"), pod_spec
    for c in pod_spec["containers"]:
        assert c.get("name") and c.get("image"), c
        assert "resources" in c and c["resources"].get("requests"), f"{c['name']} has no resource requests"
    return pod_spec["containers"]


def env_of(container: dict) -> dict[str, dict]:
    env = {}
    for e in container.get("env", []):
        assert "name" in e and ("value" in e or "valueFrom" in e), e
        env[e["name"]] = e
    return env


def test_raycluster_has_a_gpu_worker_group_token_and_tracking_uri():
    docs = by_kind(load_all(INFRA / "kuberay" / "raycluster.yaml"))
    cluster = docs[("RayCluster", "gan-sweeps")]
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["rayVersion"] == "2.60.0" and spec["enableInTreeAutoscaling"] is True
    head = containers(spec["headGroupSpec"]["template"]["spec"])[0]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (group,) = spec["workerGroupSpecs"]
    assert group["minReplicas"] == 0 and group["maxReplicas"] >= 1 and "groupName" in group
    worker = containers(group["template"]["spec"])[0]
    assert int(worker["resources"]["limits"]["nvidia.com/gpu"]) >= 2
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == worker["resources"]["requests"]["nvidia.com/gpu"]
    for c in (head, worker):
        assert IMAGE in c["image"]
        env = env_of(c)
        assert env["MLFLOW_TRACKING_URI"]["value"].startswith("http://mlflow")
        assert env["GAN_STORAGE_PATH"]["value"].startswith("s3://")
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "ray-auth"
        assert float(env["GAN_GPUS_PER_TRIAL"]["value"]) == 0.25
    assert {e["name"] for e in spec["autoscalerOptions"]["env"]} >= {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}


def test_rayjob_runs_a_sweep_script_on_that_cluster():
    docs = by_kind(load_all(INFRA / "kuberay" / "rayjob.yaml"))
    (job,) = [d for (kind, _), d in docs.items() if kind == "RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    assert spec["clusterSelector"]["ray.io/cluster"] == "gan-sweeps"
    script = spec["entrypoint"].split()[1]
    assert spec["entrypoint"].startswith("python ") and (ROOT / script.split("/gan/", 1)[1]).exists()
    submitter = containers(spec["submitterPodTemplate"]["spec"])[0]
    assert env_of(submitter)["RAY_AUTH_MODE"]["value"] == "token"


def test_mlflow_deployment_service_postgres_and_s3_store():
    docs = by_kind(load_all(INFRA / "kuberay" / "mlflow.yaml"))
    namespaces = {d["metadata"].get("namespace") for d in docs.values() if d["kind"] != "Namespace"}
    assert namespaces == {"gan-sweeps"} and ("Namespace", "gan-sweeps") in docs
    deploy = docs[("Deployment", "mlflow")]
    assert deploy["apiVersion"] == "apps/v1"
    tmpl = deploy["spec"]["template"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items()
    (server,) = containers(tmpl["spec"])
    assert server["command"][0].endswith("infra/mlflow_server.sh")
    env = env_of(server)
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"].startswith("postgresql+psycopg2://")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"]["value"].startswith("s3://")
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    service = docs[("Service", "mlflow")]
    assert service["spec"]["selector"] == tmpl["metadata"]["labels"]
    assert service["spec"]["ports"][0]["port"] == 5000
    secret_keys = set(docs[("Secret", "mlflow-secrets")]["stringData"])
    for doc in docs.values():  # every secret reference resolves
        for pod in _pod_specs(doc):
            for c in containers(pod):
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] == "mlflow-secrets" and ref["key"] in secret_keys
    postgres = docs[("StatefulSet", "mlflow-postgres")]
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"].startswith("postgres:")
    assert docs[("Service", "mlflow-postgres")] and docs[("Deployment", "minio")] and docs[("Service", "minio")]


def _pod_specs(doc: dict):
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        yield spec["template"]["spec"]


@pytest.mark.parametrize("script", ["mlflow_server.sh", "postgres_local.sh"])
def test_scripts_parse_and_default_to_localhost(script):
    path = INFRA / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)
    if script == "mlflow_server.sh":
        text = path.read_text()
        assert "host=${MLFLOW_HOST:-127.0.0.1}" in text and "--serve-artifacts" in text


def test_per_trial_resources_come_from_flags_env_or_the_sweep_config(monkeypatch):
    from gan_core import search_space, sweep
    from gan_core.errors import ConfigError
    from gan_core.sweep.ray_session import trial_resources

    raw = {"method": "san", "search": {"san_lambda": {"type": "loguniform", "low": 0.1, "high": 20}}}
    packed = search_space.validate({**raw, "resources": {"cpu": 2, "gpu": 0.25}})
    assert trial_resources(packed.resources) == {"cpu": 2.0, "gpu": 0.25}          # 4 trials per GPU
    assert trial_resources(packed.resources, 1, 0.5) == {"cpu": 1.0, "gpu": 0.5}   # flags win
    plain = search_space.validate(raw)
    assert trial_resources(plain.resources, None, 0.0) == {"cpu": 1.0, "gpu": 0.0}
    for bad in ({"gpu": -1}, {"cpu": 0}, {"tpu": 1}, [1]):
        with pytest.raises(ConfigError, match="resources"):
            search_space.validate({**raw, "resources": bad})
    monkeypatch.setenv("GAN_GPUS_PER_TRIAL", "0.125")
    monkeypatch.setenv("GAN_STORAGE_PATH", "s3://bucket/ray_results")
    monkeypatch.delenv("GAN_CPUS_PER_TRIAL", raising=False)
    options = sweep.cli.sweep_options(sweep.parser("test").parse_args([]))
    assert options["gpus_per_trial"] == 0.125 and options["cpus_per_trial"] is None
    args = sweep.parser("test").parse_args([])
    assert args.storage_path == "s3://bucket/ray_results"
    assert sweep.parser("test").parse_args(["--gpus-per-trial", "1"]).gpus_per_trial == 1.0
