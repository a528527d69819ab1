"""Screenshot the MLflow UI's run comparison for a sweep, in a real headless Chromium.

    python scripts/mlflow_ui_screenshot.py --store sqlite:///$PWD/mlflow.db --method san --out docs/img/mlflow_compare.png
    python scripts/mlflow_ui_screenshot.py --store sqlite:///$PWD/mlflow.db --view charts --out docs/img/mlflow_charts.png

Starts `mlflow ui` on 127.0.0.1 (a free port), opens a view of the latest sweep's trials (compare:
MLflow's run comparison; charts: the trials' metric charts side by side; experiment: the runs table),
waits in real time until its plots have drawn, saves the PNG, and stops the server. Drives Debian's
`chromium` (apt-get install chromium) over the DevTools protocol: with `--screenshot`, the charts are still
spinners when the picture is taken. The store is only read: point it at a copy to be sure.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
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

    from gan_core.sweep.cli import charts_page

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
    if view == "charts":  # the trials' charts side by side, one section per metric prefix (quality first)
        return base + charts_page(exp.experiment_id, sweeps[0].info.run_id)
    runs = json.dumps([r.info.run_id for r in trials])
    query = urllib.parse.urlencode({"runs": runs, "experiments": json.dumps([exp.experiment_id])})
    return f"{base}/#/compare-runs?{query}"


# (plots drawn, images): the page is ready when these stop changing with at least the view's plots drawn
PROGRESS = "JSON.stringify([document.querySelectorAll('.main-svg').length, document.images.length])"
CLOSE_ASSISTANT = "document.querySelector('button[aria-label=\"Close\"]')?.click()"  # its panel hides the charts
PLOTS = {"compare": 1, "charts": 6, "experiment": 0}


async def capture(browser: str, url: str, out: Path, size: tuple[int, int], plots: int, seconds: float = 180) -> None:
    import aiohttp  # deferred: only this script talks to a browser

    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                 "--disable-background-networking", "--no-first-run", f"--user-data-dir={profile}",
                                 "--remote-debugging-port=0", "about:blank"], stderr=subprocess.PIPE, text=True)
        try:
            port = next(urllib.parse.urlparse(line.split()[-1]).port for line in proc.stderr
                        if line.startswith("DevTools listening on"))
            async with aiohttp.ClientSession() as http:
                pages = await (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                target = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
                async with http.ws_connect(target, max_msg_size=0) as ws:
                    ids = itertools.count(1)

                    async def call(method: str, **params) -> dict:
                        await ws.send_json({"id": (i := next(ids)), "method": method, "params": params})
                        async for message in ws:
                            answer = message.json()
                            if answer.get("id") == i:
                                if "error" in answer:
                                    raise SystemExit(f"chromium: {method}: {answer['error']}")
                                return answer["result"]
                        raise SystemExit("chromium closed the DevTools connection")

                    await call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1],
                               deviceScaleFactor=1, mobile=False)
                    await call("Page.navigate", url=url)
                    deadline, seen, steady = time.time() + seconds, None, 0
                    while steady < 3:  # three polls in a row alike, 6 s
                        if time.time() > deadline:
                            raise SystemExit(f"the page did not settle within {seconds:.0f}s: {seen}")
                        await asyncio.sleep(2)
                        now = json.loads((await call("Runtime.evaluate", expression=PROGRESS,
                                                     returnByValue=True))["result"]["value"])
                        steady = steady + 1 if now == seen and now[0] >= plots else 0
                        seen = now
                    await call("Runtime.evaluate", expression=CLOSE_ASSISTANT)
                    await asyncio.sleep(2)
                    shot = await call("Page.captureScreenshot", format="png")
                    out.write_bytes(base64.b64decode(shot["data"]))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


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
        width, height = (int(v) for v in args.size.split(","))
        asyncio.run(capture(browser, url, out, (width, height), PLOTS[args.view]))
        print(f"{url}\n-> {out}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
