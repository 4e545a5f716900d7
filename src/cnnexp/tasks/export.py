"""task=export: a checkpoint's network as a file other runtimes load, with a JSON sidecar, verified.

`python -m cnnexp task=export ckpt_path=X format=onnx|torchscript|pt2` writes <model><suffix> and
<model><suffix>.json into the run folder, never over a file that no run wrote (rundir/outputs.py: refused
before the network is built, unless overwrite=true). The file takes normalised images (B, C, H, W) of the network's input
size, any batch size, and gives logits; the sidecar says how to get there from an image file (the mode and size
to decode to, mean/std, the adaptation) and names the classes. The file is run on a batch and compared with
PyTorch before the task reports success.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from cnnexp.checkpoint.match import checkpoint_for
from cnnexp.checkpoint.record import Record, versions
from cnnexp.data.folders import MODES
from cnnexp.export.check import Exported, export
from cnnexp.export.formats import FORMATS, INPUT, OUTPUT
from cnnexp.run import Run
from cnnexp.rundir.files import write_json
from cnnexp.rundir.names import safe_name
from cnnexp.rundir.outputs import reserve_outputs, target
from cnnexp.tasks.base import TASKS

LOGITS = "logits; softmax gives probabilities"
FILE_LIMIT = 100  # characters of the model's name in the file's name


@TASKS.register("export")
def export_task(run: Run) -> Exported:
    run, ckpt = checkpoint_for(run, "export")
    name = FORMATS.canonical(run.options.format, "format")
    fmt = FORMATS.get(name, "format")
    fmt.check_packages(name)  # before the network is built: a missing package is the first thing to know
    record = ckpt.require_record("task=export")
    named = f"{safe_name(run.model.name, FILE_LIMIT)}{fmt.suffix}"  # the record's name is data: no `/` or `..`
    folder, file = target(Path(run.output_dir), named, run.options.output, "export")
    in_run = run.options.output is None
    path, sidecar = reserve_outputs(folder, [file, f"{file}.json"], "export", run.options.overwrite, record=in_run)
    print(f"task=export: writing {path} and {sidecar.name} ({name})", flush=True)  # before minutes of exporting
    done = _export_into(path, ckpt.network(run.model), name, run.model.input_shape)
    write_json(sidecar, describe(run, record, name, done, str(ckpt.path)))
    print(
        f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) and {sidecar.name}; run on a batch of {done.batch} "
        f"against PyTorch: largest difference {done.max_diff:.2e}",
        flush=True,
    )
    return done


def _export_into(path: Path, net: nn.Module, name: str, shape: tuple[int, int, int]) -> Exported:
    """export() into a folder of its own beside `path`, renamed into place once verified: a failed or interrupted
    export leaves what was at `path` as it was (overwrite=true replaces a file only with a working one)."""
    scratch = Path(tempfile.mkdtemp(prefix=".export-", suffix=".tmp", dir=path.parent))  # a kill's is removed later
    try:
        done = export(net, name, shape, scratch / path.name)  # the file's own name: messages and suffix checks
        os.replace(done.path, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return replace(done, path=path)


def describe(run: Run, record: Record, name: str, done: Exported, checkpoint: str) -> dict[str, Any]:
    """The sidecar: what goes in, what comes out, and how an image file becomes the input."""
    facts = record.data
    channels, height, width = run.model.input_shape
    c, h, w = facts.shape  # as decoded, before normalising and adapting
    return {
        "format": name,
        "file": done.path.name,
        "model": run.model.name,
        "input": {"name": INPUT, "shape": ["batch", channels, height, width], "dtype": "float32", "layout": "NCHW"},
        "output": {"name": OUTPUT, "shape": ["batch", run.model.num_classes], "meaning": LOGITS},
        "classes": list(facts.classes),
        "preprocess": {
            # PIL's mode (L or RGB: every source gives 1 or 3 channels) and the size images are decoded to
            "decode": {"mode": MODES[c], "height": h, "width": w, "resize": "bilinear"},
            "scale": "pixel values / 255",
            "mean": list(facts.mean),
            "std": list(facts.std),
            "normalise": "(x - mean) / std per channel",
            "then": facts.adapt,  # adaptation to the network's input, in order (bilinear, antialiased resizes)
        },
        "verified": {"batch": done.batch, "max_abs_difference": done.max_diff},
        "checkpoint": checkpoint,
        "versions": versions(),
    }
