"""A real two-node Ray cluster on one machine, a real MLflow server, and `ray job submit`.

The head and a worker are separate `ray start` raylets with 1 CPU each, on the loopback
addresses 127.0.0.2 and 127.0.0.3 (Ray rewrites 127.0.0.1 to the outward address, which tests
must not use). MLflow serves on 127.0.0.1 with PostgreSQL as its backend store when the
distribution's PostgreSQL is installed (.ci/setup_system installs it), else SQLite. Every
process is started in its own session and stopped by that session id; nothing else is touched.
docs/cluster.md describes the same steps on a real cluster.
"""
from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gan_core.tracking.metric_names import logged
from servers import base_env, free_port, start_mlflow, stop_session, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
SMOKE_TRIALS = 6  # sweep.SMOKE_SAMPLES

pytestmark = pytest.mark.skipif(
    not (BIN / "ray").exists() or not (BIN / "mlflow").exists(),
    reason=f"the ray and mlflow CLIs are not installed next to {sys.executable} (pip install 'ray[default,tune]' mlflow)")


# --- the MLflow server ---------------------------------------------------------------------

@dataclass
class Server:
    uri: str
    backend: str
    artifacts: Path
    sid: int | None = None
    pg_data: Path | None = None
    pg_port: int = 0


def postgres_installed() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or shutil.which("initdb") is not None


@pytest.fixture(scope="module")
def server():
    # PostgreSQL runs as `postgres` under root: its folder must be reachable, so not under
    # pytest's 0700 tmp root. A short mkdtemp path, made traversable.
    base = Path(tempfile.mkdtemp(prefix="gan-mlflow-"))
    base.chmod(0o711)
    srv = Server(uri="", backend="", artifacts=base / "artifacts")
    try:
        if postgres_installed():
            srv.pg_data, srv.pg_port = base / "pg", free_port()
            out = subprocess.run([str(ROOT / "infra" / "postgres_local.sh"), "start", str(srv.pg_data),
                                  str(srv.pg_port)], capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout + out.stderr
            srv.backend = out.stdout.strip().splitlines()[-1]
        else:
            print("PostgreSQL is not installed (apt-get install postgresql, or .ci/setup_system): "
                  "the MLflow server uses SQLite instead")
            srv.backend = f"sqlite:///{base}/mlflow.db"
        port = free_port()
        srv.uri = f"http://127.0.0.1:{port}"
        proc = start_mlflow(srv.backend, srv.artifacts, port, base)
        srv.sid = proc.pid
        wait_healthy(srv.uri, proc, base / "mlflow.log")
        yield srv
    finally:
        if srv.sid:
            stop_session(srv.sid)
        if srv.pg_data:
            subprocess.run([str(ROOT / "infra" / "postgres_local.sh"), "stop", str(srv.pg_data)], timeout=60)
        shutil.rmtree(base, ignore_errors=True)


# --- the Ray cluster -----------------------------------------------------------------------

@dataclass
class Cluster:
    dashboard: str
    gcs: str
    sids: dict[str, int] = field(default_factory=dict)  # node ip -> session of its `ray start`
    logs: Path | None = None

    def submit(self, *args: str) -> list[str]:
        return [str(BIN / "ray"), "job", "submit", "--address", self.dashboard, "--working-dir", str(ROOT),
                "--", *args]


def ray_start(c: "Cluster", ip: str, args: list[str], env: dict) -> None:
    log = c.logs / f"{ip}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "ray"), "start", *args, "--disable-usage-stats"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        c.sids[ip] = proc.pid  # its session id: the raylet and agents it starts stay in that session
        proc.wait(timeout=180)
    assert proc.returncode == 0, log.read_text()[-3000:]


def node_ports() -> list[str]:
    """Every fixed-by-default port of a node, made free: other Ray instances may share this machine."""
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]


@pytest.fixture(scope="module")
def cluster():
    # Short paths (Unix socket names are limited), and one temp dir per node: two raylets on one
    # machine sharing a session dir unpack the job's working_dir over each other, which deletes
    # the driver's current folder mid-run.
    base = Path(tempfile.mkdtemp(prefix="gan-ray-"))
    env = base_env()
    port, dash = free_port(), free_port()
    c = Cluster(dashboard=f"http://{HEAD_IP}:{dash}", gcs=f"{HEAD_IP}:{port}", logs=base)
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 1024 ** 2)]
    try:
        ray_start(c, HEAD_IP, [
            "--head", "--node-ip-address", HEAD_IP, "--port", str(port), "--dashboard-host", HEAD_IP,
            "--dashboard-port", str(dash), "--ray-client-server-port", str(free_port()),
            "--temp-dir", str(base / "head"), *common, *node_ports()], env)
        ray_start(c, WORKER_IP, [
            "--address", c.gcs, "--node-ip-address", WORKER_IP, "--temp-dir", str(base / "worker"),
            *common, *node_ports()], env)
        yield c
    finally:
        for sid in c.sids.values():
            stop_session(sid)
        shutil.rmtree(base, ignore_errors=True)


def run_job(c: Cluster, args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(c.submit(*args), cwd=ROOT, env=base_env(), capture_output=True, text=True,
                          timeout=timeout)


def results(storage: Path) -> dict[str, list[dict]]:
    """Tune's result.json rows per trial folder (every report carries node_id and node_ip)."""
    out = {}
    for path in glob.glob(f"{storage}/*/*/result.json"):
        rows = []
        for line in Path(path).read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                pass
        out[Path(path).parent.name] = rows
    return out


def trial_runs(uri: str, sweep: str | None = None):
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("san")
    query = "tags.role = 'trial'" + (f" and tags.sweep = '{sweep}'" if sweep else "")
    return c, exp, c.search_runs([exp.experiment_id], query, max_results=1000)


def sweep_name(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("san_lambda_bs: san_lambda_bs-"):
            return line.split()[1]
    raise AssertionError(f"no sweep name in the job output:\n{output[-3000:]}")


# --- the tests ---------------------------------------------------------------------------

def test_job_imports_gan_core_from_its_uploaded_working_dir(cluster):
    out = run_job(cluster, ["python", "-c", "import gan_core; print('GAN_CORE_AT', gan_core.__file__)"], 180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    where = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("GAN_CORE_AT"))
    assert "runtime_resources/working_dir_files/_ray_pkg_" in where, where


def test_smoke_sweep_on_two_nodes_tracked_by_the_server(cluster, server, tmp_path):
    storage = tmp_path / "ray_results"
    user_store = ROOT / "mlflow.db"  # a user's own main-job store may sit in the checkout: never ours to judge
    before = user_store.stat().st_mtime_ns if user_store.exists() else None
    out = run_job(cluster, ["python", "sweeps/san_lambda_bs.py", "--smoke", "--tracking-uri", server.uri,
                            "--storage-path", str(storage)])
    output = out.stdout + out.stderr
    assert out.returncode == 0 and "succeeded" in output, output[-4000:]
    sweep = sweep_name(output)

    # trials ran on both nodes
    rows = results(storage)
    assert len(rows) == SMOKE_TRIALS
    ips = {r["node_ip"] for trial in rows.values() for r in trial}
    node_ids = {r["node_id"] for trial in rows.values() for r in trial}
    assert ips == {HEAD_IP, WORKER_IP} and len(node_ids) == 2, ips

    # every run and artifact reached the server over HTTP
    c, exp, runs = trial_runs(server.uri, sweep)
    assert exp.artifact_location.startswith("mlflow-artifacts:")  # proxied: clients never see the store
    assert len(runs) == SMOKE_TRIALS and len({r.data.tags["trial_id"] for r in runs}) == SMOKE_TRIALS
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["status"] for r in runs} <= {"completed", "pruned"}
    for run in runs:
        assert "checkpoint.pt" in {Path(a.path).name for a in c.list_artifacts(run.info.run_id, "checkpoint")}
        assert c.list_artifacts(run.info.run_id, "images")
        stored = list(server.artifacts.rglob(f"{run.info.run_id}/artifacts/checkpoint/checkpoint.pt"))
        assert stored, f"the server's artifact store has no checkpoint of {run.info.run_id}"
    parents = c.search_runs([exp.experiment_id], f"tags.sweep = '{sweep}' and tags.role = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {a.path for a in c.list_artifacts(parents[0].info.run_id, "optuna")} >= {"optuna/history.png"}
    # no stray local store: none in the job's working dirs or trial folders, and the checkout's untouched
    assert not list(cluster.logs.rglob("mlflow.db")) and not list(storage.rglob("mlflow.db"))
    assert (user_store.stat().st_mtime_ns if user_store.exists() else None) == before
    if server.backend.startswith("postgresql"):  # the runs live in PostgreSQL, not in a file
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
        count = subprocess.run([psql, "-h", "127.0.0.1", "-p", str(server.pg_port), "-U", "mlflow", "-d", "mlflow",
                                "-tAc", "SELECT count(*) FROM runs"], capture_output=True, text=True, timeout=30)
        assert int(count.stdout.strip()) >= SMOKE_TRIALS + 1, count.stderr

    # the champion, loaded through the server
    import gan_core

    champion = c.get_model_version_by_alias("gan-san", "champion")
    model = gan_core.best_model("san", tracking_uri=server.uri)
    assert model.run_id == champion.run_id
    assert tuple(model.sample(4, seed=0).shape) == (4, 1, 28, 28)


KILL_SPACE = """\
# Identical trials (one choice, one seed): equal fid_mnist, so ASHA never stops one early and
# the trial on the worker is still running when the worker dies.
method: san
search:
  san_lambda: {type: categorical, choices: [1.0]}
smoke:
  max_steps: 120
  eval_every_steps: 20
  eval_samples: 200
  inception_samples: 0
"""


def test_killing_the_worker_node_mid_sweep_resumes_its_trial_from_a_checkpoint(cluster, server, tmp_path):
    storage = tmp_path / "ray_results"
    space = tmp_path / "kill.yaml"
    space.write_text(KILL_SPACE)
    log = open(tmp_path / "job.log", "w")
    job = subprocess.Popen(cluster.submit("python", "sweeps/san_lambda_bs.py", "--smoke", "--search-space", str(space),
                                          "--num-samples", "3", "--tracking-uri", server.uri,
                                          "--storage-path", str(storage)),
                           cwd=ROOT, env=base_env(), stdout=log, stderr=subprocess.STDOUT)
    killed, deadline = None, time.time() + 600
    try:
        # kill the worker node once a trial on it has checkpointed twice and is still running
        while killed is None and job.poll() is None and time.time() < deadline:
            for trial, rows in results(storage).items():
                last = rows[-1] if rows else {}
                if last.get("node_ip") == WORKER_IP and last["training_iteration"] >= 2 and not last.get("done"):
                    stop_session(cluster.sids.pop(WORKER_IP), grace=0)  # SIGKILL at once: a node dies
                    killed = (trial, last["training_iteration"])
                    break
            time.sleep(0.5)
        job.wait(timeout=max(1, deadline - time.time()))
    finally:
        if job.poll() is None:
            job.kill()
    output = (tmp_path / "job.log").read_text()
    assert killed, "the sweep ended before a trial on the worker could be interrupted:\n" + output[-3000:]
    assert job.returncode == 0 and "succeeded" in output, output[-4000:]

    # the interrupted trial went on, on the head, from its last checkpoint (no report repeated)
    trial, at = killed
    rows = results(storage)[trial]
    iterations = [r["training_iteration"] for r in rows]
    assert iterations == list(range(1, 7)), iterations
    assert {r["node_ip"] for r in rows if r["training_iteration"] <= at} == {WORKER_IP}
    assert {r["node_ip"] for r in rows if r["training_iteration"] > at + 1} == {HEAD_IP}
    assert "Restored on 127.0.0.2 from checkpoint" in output
    state = json.loads(Path(max(glob.glob(f"{storage}/*/experiment_state-*.json"))).read_text())
    failures = {json.loads(t)["trial_id"]: json.loads(meta)["num_failures"] for t, meta in state["trial_data"]}
    assert failures[trial.split("_")[1]] == 1 and sum(failures.values()) == 1

    # MLflow: every trial exactly once, finished, with one metric per report step
    c, _, runs = trial_runs(server.uri, sweep_name(output))
    assert len(runs) == 3 and len({r.data.tags["trial_id"] for r in runs}) == 3
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "completed", run.data.tags
        steps = [m.step for m in c.get_metric_history(run.info.run_id, logged("fid_mnist"))]
        assert sorted(steps) == [20, 40, 60, 80, 100, 120], steps
