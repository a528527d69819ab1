"""A full disk during `gan train`: the run fails with one line naming the checkpoint's path, and the
previous checkpoint stays loadable (it is replaced only by a complete file). A real size-limited tmpfs."""
import subprocess
import sys
from pathlib import Path

import pytest

from gan_core import checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path):
    """A 50 MB tmpfs: room for one checkpoint of the fixed G and D with Adam (36 MB), not for a second beside it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=50m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this machine does not let the test mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_fails_the_run_in_one_line_and_keeps_the_previous_checkpoint(small_disk, env):
    out = small_disk / "run"
    result = subprocess.run(
        [sys.executable, "-m", "gan_core.cli", "train", "--method", "hinge", "--max-steps", "20", "--quiet",
         "--set", "eval_every_steps=10", "--set", "eval_samples=200", "--set", "inception_samples=0",
         "--out", str(out)], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == (f"gan: error: cannot write {out / 'checkpoint.pt'}: No space left on device; "
                                     f"the previous checkpoint there is kept"), result.stderr[-2000:]
    assert checkpoint.load(out / "checkpoint.pt", method="hinge")["step"] == 10
    assert not (out / "checkpoint.pt.tmp").exists()  # the space of the failed write is given back
