"""task=kernels: apply the kernels of conf/kernels to an image file or a test image, and save the pictures.

`python -m cnnexp task=kernels kernels.image=photo.png` (or no image: `kernels.index` of data's test split)
writes input.png, one <name>.png per kernel and kernels.png (input → kernel → feature map) into kernels.out,
by default the run folder. See docs/pictures.md.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig
from torch import Tensor

from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import parse_data
from cnnexp.data.split import Tensors
from cnnexp.errors import ConfigError
from cnnexp.experiment import plain
from cnnexp import fields as fd
from cnnexp.tasks.base import TASKS
from cnnexp.viz import kernels as kn


@TASKS.register("kernels")
def kernels_task(cfg: DictConfig) -> dict[str, Tensor]:
    """Returns each kernel's feature map (H', W'), the values the PNGs show."""
    settings = plain(cfg, "kernels") or {}
    convs = kn.parse_kernels(settings.get("kernels"), settings.get("padding", 0))  # mistakes before any loading
    path = settings.get("image")
    image = kn.read_image(str(path)) if path else _test_image(cfg, settings.get("index", 0))
    out = Path(str(settings.get("out") or cfg.output_dir))
    maps = {name: kn.apply(spec, name, image) for name, spec in convs}
    written = kn.write_pictures(image, convs, maps, out)
    print(f"wrote {', '.join(p.name for p in written)} to {out}", flush=True)
    return maps


def _test_image(cfg: DictConfig, index: object) -> Tensor:
    """Test image `index` of the data config, grey, raw pixel values 0..255 (no normalisation)."""
    position = fd.integer(0)(index, "kernels.index")
    spec = parse_data(plain(cfg, "data"))
    datamodule = ImageDataModule(spec, spec.shape)
    datamodule.prepare_data()
    datamodule.setup("test")
    part = datamodule.parts["test"]
    if position >= len(part):
        raise ConfigError(
            f"kernels.index={position} but data={spec.name} has {len(part)} test images (data.test_size); "
            f"choose an index below {len(part)}."
        )
    raw = part.images[position] if isinstance(part, Tensors) else part[position][0]
    return kn.grey(raw)
