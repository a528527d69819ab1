"""Every bad input to every command, through the real command lines: one line naming the value, exit 2,
before any compute. The table runs in one interpreter (each case a fresh ``__main__`` run of the
command, its exit status and stderr captured) so that the whole table costs one start-up of torch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

RUNNER = r"""
import contextlib, io, json, runpy, sys
out = []
for target, argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    sys.argv = [target, *argv]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            if target.endswith(".py"):
                runpy.run_path(target, run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException as error:  # a traceback: the case fails
            code, _ = 1, err.write(f"Traceback: {type(error).__name__}: {error}")
    out.append([code, err.getvalue()])
print(json.dumps(out))
"""


def cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    """(command, argv, what the one line says) for each bad input."""
    afile = tmp / "afile"
    afile.write_text("not a folder")
    torch.save({"method": "vanilla", "config": {"seed": 0}, "step": 4, "train_seconds": 1.0}, tmp / "good.pt")
    good = (tmp / "good.pt").read_bytes()
    for name, data in (("truncated", good[: len(good) // 2]), ("other", good)):
        (tmp / name).mkdir()
        (tmp / name / "checkpoint.pt").write_bytes(data)
    (tmp / "foreign").mkdir()
    torch.save({"weights": torch.zeros(3)}, tmp / "foreign" / "checkpoint.pt")
    (tmp / "colour.yaml").write_text("- {colour: red}\n")
    (tmp / "mapping.yaml").write_text("san_lambda: 1\n")
    (tmp / "broken.yaml").write_text(": : :\n  - [")
    (tmp / "wgan.yaml").write_text((ROOT / "search_spaces" / "wgan.yaml").read_text())
    gan, san, compare = "gan_core.cli", str(ROOT / "sweeps" / "san_lambda_bs.py"), str(ROOT / "sweeps" / "all_methods.py")
    train = ["train", "--method", "san", "--max-steps", "5", "--quiet", "--set", "eval_samples=200", "--set",
             "inception_samples=0"]  # tiny, should a case ever get past its check
    smoke = ["--smoke", "--storage-path", str(tmp / "rr"), "--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
    return [
        (gan, [*train, "--out", str(afile)], f"--out {afile} is a file, not a folder"),
        (gan, [*train, "--out", str(afile / "run")], f"{afile} is a file, not a folder"),
        (gan, [*train, "--resume", "--out", str(tmp / "truncated")], "checkpoint.pt is not a readable checkpoint"),
        (gan, [*train, "--resume", "--out", str(tmp / "foreign")], "is not a gan_core checkpoint"),
        (gan, [*train, "--resume", "--out", str(tmp / "other")], "checkpoint.pt is a 'vanilla' run, not 'san'"),
        (gan, [*train, "--population", "2", "--resume", "--out", str(tmp / "other")], "nothing to resume"),
        (gan, [*train, "--population", "0"], "--population: must be at least 1, got 0"),
        (gan, [*train, "--members", str(tmp / "colour.yaml")], "unknown config key 'colour'"),
        (gan, [*train, "--members", str(tmp / "mapping.yaml")], "must be a non-empty YAML list"),
        (gan, [*train, "--members", str(tmp / "broken.yaml")], "cannot read it as YAML"),
        (gan, ["train", "--preset", "seed-sna"], "unknown preset 'seed-sna'"),
        (gan, ["train", "--method", "drs", "--set", f"base={tmp / 'truncated' / 'checkpoint.pt'}"],
         "is not a readable checkpoint"),
        (gan, ["sample", "san", "--out", str(afile)], f"--out {afile} is a file, not a folder"),
        (gan, ["sample", "san", "--out", str(tmp / "s"), "--tracking-uri", "foo://x"],
         "tracking URI 'foo://x': MLflow cannot store runs at a 'foo' URI"),
        (gan, ["methods", "--all"], "unrecognized arguments: --all"),
        (san, ["--smoke", "--storage-path", str(tmp / "rr"), "--tracking-uri", "foo://x"], "cannot store runs at a 'foo'"),
        (san, ["--smoke", "--storage-path", str(afile)], f"--storage-path {afile} is a file, not a folder"),
        (san, [*smoke, "--populations", "2"], "--populations 2 sets how many populations run at once"),
        (san, [*smoke, "--population", "0"], "--population must be an integer >= 1, got 0"),
        (san, [*smoke, "--search-space", str(tmp / "broken.yaml")], "broken.yaml: not valid YAML at line 1"),
        (san, [*smoke, "--search-space", str(tmp / "wgan.yaml")], "is for method 'wgan', not 'san'"),
        (san, [*smoke, "--num-samples", "many"], "--num-samples: invalid int value: 'many'"),
        (compare, [*smoke, "--methods", "san", "--samplers", "bogus"], "unknown method 'bogus'"),
        (compare, [*smoke, "--populations", "2"], "--populations 2 sets how many populations run at once"),
    ]


def test_every_bad_input_is_one_line_and_exit_2_before_compute(tmp_path):
    table = cases(tmp_path)
    env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", RUNNER, json.dumps([[c, a] for c, a, _ in table])], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    wrong = []
    for (command, argv, message), (code, stderr) in zip(table, outcomes):
        lines = [line for line in stderr.strip().splitlines() if " INFO " not in line]  # MLflow's own logs
        if stderr.startswith("usage:"):  # argparse: its usage, then the one line
            lines = lines[-1:]
        if code != 2 or message not in stderr or len(lines) != 1 or "Traceback" in stderr:
            wrong.append((Path(command).name, argv, code, stderr[-500:]))
    assert not wrong, "\n".join(map(str, wrong))
    assert not (tmp_path / "rr").exists() and not (tmp_path / "s").exists()  # nothing was started
