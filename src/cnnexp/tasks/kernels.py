"""task=kernels: apply the kernels of conf/kernels to an image file or a test image, and save the pictures.

`python -m cnnexp task=kernels kernels.image=photo.png` (or no image: `kernels.index` of data's test split)
writes input.png, one <name>.png per kernel and kernels.png (input → kernel → feature map) into kernels.out,
by default the run folder. See docs/pictures.md.
"""

from __future__ import annotations

from torch import Tensor

from cnnexp.data.module import ImageDataModule
from cnnexp.errors import ConfigError
from cnnexp.run import Run
from cnnexp.tasks.base import TASKS
from cnnexp.viz import kernels as kn


@TASKS.register("kernels")
def kernels_task(run: Run) -> dict[str, Tensor]:
    """Returns each kernel's feature map (H', W'), the values the PNGs show."""
    settings = run.kernels
    convs = kn.parse_kernels(settings.kernels, settings.padding)  # mistakes before any loading
    image = kn.read_image(str(settings.image)) if settings.image else _test_image(run, settings.index)
    out = settings.out or run.output_dir
    maps = {name: kn.apply(spec, name, image) for name, spec in convs}
    try:
        written = kn.write_pictures(image, convs, maps, out)
    except OSError as err:
        raise ConfigError(
            f"kernels.out={out}: cannot write the pictures there ({err.strerror or err}); choose a folder you can "
            f"write to, or leave kernels.out unset (the run folder)."
        ) from None
    print(f"wrote {', '.join(p.name for p in written)} to {out}", flush=True)
    return maps


def _test_image(run: Run, index: int) -> Tensor:
    """Test image `index` of the data config, grey, raw pixel values 0..255 (no normalisation)."""
    datamodule = ImageDataModule(run.data, run.data.shape)
    datamodule.prepare_data()
    datamodule.setup("test")
    raw, _ = datamodule.sample("test", index, "kernels.index")
    return kn.grey(raw)
