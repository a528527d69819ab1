"""Screenshot the MLflow UI's run comparison for a sweep, in a real headless Chromium.

    python scripts/mlflow_ui_screenshot.py --store sqlite:///$PWD/mlflow.db --method san --out docs/img/mlflow_compare.png
    python scripts/mlflow_ui_screenshot.py --store sqlite:///$PWD/mlflow.db --view charts --out docs/img/mlflow_charts.png

Starts `mlflow ui` on 127.0.0.1 (a free port), opens the compare view of the latest sweep's
trials, saves the PNG, and stops the server. Needs Debian's `chromium` (apt-get install chromium).
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"mlflow ui did not answer at {url} within {seconds:.0f}s")


def compare_url(base: str, store: str, method: str, view: str) -> str:
    from mlflow import MlflowClient

    c = MlflowClient(store)
    exp = c.get_experiment_by_name(method)
    if exp is None:
        raise SystemExit(f"no experiment {method!r} in {store}")
    sweeps = c.search_runs([exp.experiment_id], "tags.role = 'sweep'", order_by=["attributes.start_time DESC"])
    if not sweeps:
        raise SystemExit(f"no sweep in experiment {method!r}")
    trials = c.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{sweeps[0].info.run_id}'")
    if view == "experiment":  # the runs table, with child runs under the sweep
        return f"{base}/#/experiments/{exp.experiment_id}/runs"
    if view == "charts":  # the model-training view's charts, one section per metric prefix (quality first)
        return f"{base}/#/experiments/{exp.experiment_id}/runs?workflowType=machine_learning&compareRunsMode=CHART"
    runs = json.dumps([r.info.run_id for r in trials])
    query = urllib.parse.urlencode({"runs": runs, "experiments": json.dumps([exp.experiment_id])})
    return f"{base}/#/compare-runs?{query}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, help="the MLflow backend store URI, e.g. sqlite:///ABS/mlflow.db")
    p.add_argument("--method", default="san")
    p.add_argument("--view", choices=("compare", "experiment", "charts"), default="compare")
    p.add_argument("--out", default="docs/img/mlflow_compare.png")
    p.add_argument("--size", default="1600,1100")
    args = p.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(mlflow), "ui", "--backend-store-uri", args.store, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(base)
        url = compare_url(base, args.store, args.method, args.view)
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--disable-background-networking", "--no-first-run", f"--user-data-dir={profile}",
                            f"--window-size={args.size}", "--virtual-time-budget=20000",
                            f"--screenshot={out}", url], check=True, capture_output=True, timeout=180)
        print(f"{url}\n-> {out}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
