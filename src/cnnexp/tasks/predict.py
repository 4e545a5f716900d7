"""task=predict: classify image files with a checkpoint, each image prepared as the network saw its training data.

`python -m cnnexp task=predict ckpt_path=X input=PATH` (a file, a folder, or a glob): decode to the recorded
data's mode and size (data/folders.Decode), normalise with the recorded mean/std and adapt to the network's
input (data/transforms.BatchTransform): the path every training image took. Prints the top_k classes of each
image and writes predictions.csv into the run folder (refusing, before any image is read, to replace a file no
run wrote: rundir/outputs.py); on the GPU when there is one (trainer.accelerator=cpu
keeps it on the CPU). Unreadable files are listed and skipped; none readable is an error.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import torch
from torch import nn

from cnnexp.checkpoint.match import checkpoint_for
from cnnexp.data.folders import Decode
from cnnexp.data.inputs import DecodedBatch, decode_batches, find_images
from cnnexp.data.module import STREAMED_MEAN
from cnnexp.data.spec import Augment
from cnnexp.data.transforms import BatchTransform, check_adapt
from cnnexp.errors import ConfigError
from cnnexp.run import Run
from cnnexp.rundir.files import atomic_write
from cnnexp.rundir.outputs import reserve_outputs, target
from cnnexp.tasks.base import TASKS

CSV_FILE = "predictions.csv"
SHOWN = 5  # unreadable files listed by name


@dataclass(frozen=True)
class Prediction:
    path: str
    classes: tuple[str, ...]  # the top_k class names, most probable first
    probabilities: tuple[float, ...]  # softmax of the network's outputs, as the losses read them


@TASKS.register("predict")
def predict_task(run: Run) -> list[Prediction]:
    run, ckpt = checkpoint_for(run, "predict")
    if run.options.input is None:
        raise ConfigError(
            "task=predict needs input=PATH: an image file, a folder of images, or a glob such as 'photos/*.jpg'."
        )
    folder, file = target(Path(run.output_dir), CSV_FILE, run.options.output, "predict")
    in_run = run.options.output is None
    out = reserve_outputs(folder, [file], "predict", run.options.overwrite, record=in_run)[0]
    print(f"task=predict: writing {out}", flush=True)
    paths = find_images(run.options.input)
    data, model = run.data, run.model
    check_adapt(data.shape, model.input_shape, data.adapt, data.name)
    device = _device(run)
    net = ckpt.network(model).to(device)
    mean, std = data.mean or (STREAMED_MEAN,) * data.channels, data.std or (STREAMED_MEAN,) * data.channels
    transform = BatchTransform(mean, std, model.input_shape, Augment())
    classes = ckpt.require_record("task=predict").data.classes
    found: list[Prediction] = []
    failed: list[tuple[Path, str]] = []
    for batch in decode_batches(paths, Decode(*data.shape), data.batch_size, data.num_workers):
        failed += batch.failed
        if batch.paths:
            found += _classify(net, transform, batch, classes, min(run.options.top_k, model.num_classes), device)
    _finish(run, out, paths, found, failed, device)
    return found


def _device(run: Run) -> torch.device:
    wanted = str(run.trainer.args.get("accelerator", "auto")).lower()
    return torch.device("cuda" if torch.cuda.is_available() and wanted != "cpu" else "cpu")


def _classify(
    net: nn.Module, transform: BatchTransform, batch: DecodedBatch, classes: Sequence[str], k: int, device: torch.device
) -> list[Prediction]:
    with torch.no_grad():
        probabilities = net(transform(batch.stacked().to(device), train=False)).float().softmax(dim=1)
    top = probabilities.topk(k, dim=1)
    made = [
        Prediction(str(path), tuple(classes[i] for i in index), tuple(values))
        for path, index, values in zip(batch.paths, top.indices.tolist(), top.values.tolist())
    ]
    for p in made:
        print(f"{p.path}: " + ", ".join(f"{c} {v:.4f}" for c, v in zip(p.classes, p.probabilities)), flush=True)
    return made


def _finish(
    run: Run,
    out: Path,
    paths: list[Path],
    found: list[Prediction],
    failed: list[tuple[Path, str]],
    device: torch.device,
) -> None:
    listed = "; ".join(f"{path} ({why})" for path, why in failed[:SHOWN]) + (
        f"; and {len(failed) - SHOWN} more" if len(failed) > SHOWN else ""
    )
    if not found:
        raise ConfigError(
            f"input={run.options.input}: none of the {len(paths)} file(s) could be read as an image: {listed}."
        )
    if failed:
        print(f"cnnexp: skipped {len(failed)} unreadable file(s): {listed}", file=sys.stderr, flush=True)
    write_predictions(out, found)
    print(f"predicted {len(found)} image(s) with {run.model.name} on {device.type}; wrote {out}", flush=True)


def write_predictions(path: Path, predictions: Sequence[Prediction]) -> None:
    """path, class, probability, then class_2, probability_2, ... up to top_k: one row per image. Written whole
    or not at all (an interrupted run leaves the file it replaces as it was)."""
    k = max(len(p.classes) for p in predictions)
    extra = [name for i in range(2, k + 1) for name in (f"class_{i}", f"probability_{i}")]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["path", "class", "probability", *extra])
    for p in predictions:
        pairs = [x for c, v in zip(p.classes, p.probabilities) for x in (c, f"{v:.6f}")]
        writer.writerow([p.path, *pairs])

    def write(handle: IO[bytes]) -> None:
        handle.write(text.getvalue().encode())

    atomic_write(path, write)
