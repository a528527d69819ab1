"""pytorch-fid's InceptionV3 (pool3, 2048-d), loaded offline from $TORCH_HOME when cached.

The weights are fetched by pytorch-fid's own code path (torch.hub cache under
TORCH_HOME); when they are absent and cannot be downloaded the error says so.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..errors import InceptionWeightsError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


def weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def weights_hash() -> str:
    # The file name carries the hash prefix that torch.hub checks on download.
    return WEIGHTS_FILE.rsplit("-", 1)[-1].split(".")[0]


@lru_cache(maxsize=4)
def load(device: str = "cpu", channels_last: bool = False) -> torch.nn.Module:
    """The network on ``device``; ``channels_last`` (NHWC) runs its convolutions about 1.6x faster on CPU."""
    from pytorch_fid.inception import InceptionV3  # deferred: only Inception metrics need pytorch-fid

    try:
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True)
    except Exception as err:
        raise InceptionWeightsError(
            f"Inception FID weights are not at {weights_path()} and the download failed "
            f"({type(err).__name__}); set TORCH_HOME to a folder holding hub/checkpoints/{WEIGHTS_FILE}"
        ) from None
    model = model.eval().requires_grad_(False).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model
