"""A full disk during `gan train`: the run fails with one line naming the path it could not write (a checkpoint,
a sample grid, a metrics line), the previous checkpoint stays loadable, nothing written before is torn, and
`--resume` after freeing space writes every report once. Real size-limited tmpfs mounts."""
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gan_core
from gan_core import checkpoint, disk
from gan_core.errors import StorageError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"eval_every_steps": 10, "eval_samples": 200, "inception_samples": 0}
TRAIN = ["train", "--method", "hinge", "--quiet", *[a for k, v in CONFIG.items() for a in ("--set", f"{k}={v}")]]


@contextlib.contextmanager
def tmpfs(mount: Path, size: str):
    mount.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this machine does not let the test mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 50 MB tmpfs: room for one checkpoint of the fixed G and D with Adam (36 MB), not for a second beside it."""
    with tmpfs(tmp_path / "disk", "50m") as mount:
        yield mount


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill ``folder``'s filesystem to the last byte, then free ``leave`` bytes of it."""
    spare, filler = folder / "spare", folder / "filler"
    spare.write_bytes(b"0" * leave)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"0" * 65536):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    spare.unlink()
    return filler


def gan_train(out: Path, max_steps: int, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_core.cli", *TRAIN, "--max-steps", str(max_steps),
                           "--out", str(out), *extra], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=180)


def reports(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_full_disk_fails_the_run_in_one_line_and_keeps_the_previous_checkpoint(small_disk, env):
    out = small_disk / "run"
    result = gan_train(out, 20, env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == (f"gan: error: cannot write {out / 'checkpoint.pt'}: No space left on device; "
                                     f"the previous checkpoint there is kept"), result.stderr[-2000:]
    assert checkpoint.load(out / "checkpoint.pt", method="hinge")["step"] == 10
    assert not (out / "checkpoint.pt.tmp").exists()  # the space of the failed write is given back
    assert reports(out) == [10, 20]  # step 20's line came before its checkpoint, which never committed it

    subprocess.run(["mount", "-o", "remount,size=100m", str(small_disk)], check=True)  # space freed
    gan_core.train("hinge", {**CONFIG, "max_steps": 20}, out_dir=out, resume=True)
    assert reports(out) == [10, 20]  # the uncommitted line was dropped, then written again: once
    assert checkpoint.load(out / "checkpoint.pt", method="hinge")["step"] == 20


def test_a_full_disk_under_the_sample_grids_fails_the_run_in_one_line(tmp_path, env):
    out = tmp_path / "run"
    with tmpfs(out / "samples", "1m") as samples:
        gan_core.train("hinge", {**CONFIG, "max_steps": 10}, out_dir=out)
        filler = fill(samples)
        result = gan_train(out, 20, env, "--resume")
        assert result.returncode == 2, result.stderr[-2000:]
        grid = samples / "step_0000020.png"
        assert result.stderr.strip() == f"gan: error: cannot write {grid}: No space left on device", result.stderr
        assert checkpoint.load(out / "checkpoint.pt", method="hinge")["step"] == 10
        assert reports(out) == [10] and sorted(p.name for p in samples.iterdir()) == ["filler", "step_0000010.png"]

        filler.unlink()  # space freed: the resume writes the report that failed
        gan_core.train("hinge", {**CONFIG, "max_steps": 20}, out_dir=out, resume=True)
        assert reports(out) == [10, 20] and grid.exists()
        assert checkpoint.load(out / "checkpoint.pt", method="hinge")["step"] == 20


def test_a_line_the_full_disk_cuts_short_is_cut_back_and_a_replace_replaces_none(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as folder:
        log = disk.append_line(folder / "metrics.jsonl", json.dumps({"step": 10}))
        disk.append_line(log, json.dumps({"step": 20}))
        before = log.read_bytes()
        a, b = disk.replace(folder / "a.json", b"old a"), disk.replace(folder / "b.json", b"old b")
        fill(folder, leave=8192)  # two pages: the first part of a long line fits, the rest does not

        with pytest.raises(StorageError, match=rf"^cannot write {log}: No space left on device; its earlier "
                                               rf"lines are kept$"):
            disk.append_line(log, json.dumps({"step": 30, "pad": "x" * 20000}))
        assert log.read_bytes() == before  # the part written is cut back: no torn line

        with pytest.raises(StorageError, match=rf"^cannot write {b}: .*; the previous file there is kept$"):
            disk.replace_all([(a, b"new a"), (b, b"new b" * 10000)])  # a fits, b does not: neither is replaced
        assert (a.read_bytes(), b.read_bytes()) == (b"old a", b"old b")
        assert sorted(p.name for p in folder.iterdir()) == ["a.json", "b.json", "filler", "metrics.jsonl"]
