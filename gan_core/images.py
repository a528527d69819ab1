"""Sample grids as PNG, through torchvision's make_grid."""
from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid
from tqdm import tqdm

from . import disk


def grid_image(samples_u8: torch.Tensor, nrow: int = 8) -> Image.Image:
    """uint8 samples [n, 784] -> one PIL grid image (pixel values kept exactly)."""
    grid = make_grid(samples_u8.view(-1, 1, 28, 28).cpu(), nrow=nrow, padding=2, pad_value=0)
    return Image.fromarray(grid[0].numpy(), mode="L")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def grid_png(samples_u8: torch.Tensor, nrow: int = 8) -> bytes:
    return png(grid_image(samples_u8, nrow))


def save_grid(samples_u8: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """The grid as a PNG at ``path``, whole or not at all (a full disk: one StorageError naming it)."""
    return disk.replace(path, grid_png(samples_u8, nrow), what="grid")


def save_pngs(samples_u8: torch.Tensor, out_dir: str | Path, progress: bool = False) -> int:
    """Write 0.png … (n-1).png, the layout that course platforms and pytorch-fid read; ``progress`` shows a bar."""
    out = Path(out_dir)
    images = samples_u8.view(-1, 28, 28).cpu().numpy()
    for i, image in enumerate(tqdm(images, desc=f"writing PNGs to {out}", unit="png", disable=not progress)):
        # no fsync: thousands of small files, and a crash only means sampling again
        disk.replace(out / f"{i}.png", png(Image.fromarray(image, mode="L")), durable=False)
    return len(images)
