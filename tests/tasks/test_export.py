"""task=export: the checkpoint's network in a file, with a sidecar that is enough to use it."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig
from PIL import Image
from support import Trained

from cnnexp.app import run_job
from cnnexp.checkpoint.load import read_checkpoint

Typed = Callable[..., DictConfig]
HAS_ONNX = all(importlib.util.find_spec(p) for p in ("onnx", "onnxscript", "onnxruntime"))
pytestmark = pytest.mark.usefixtures("onnx_table_once")  # tests/conftest.py: the ONNX table built once


def _sidecar_input(sidecar: dict, image: Path) -> np.ndarray:
    """An image file prepared from the sidecar alone (PIL and numpy: no cnnexp, no torch)."""
    decode, prep = sidecar["preprocess"]["decode"], sidecar["preprocess"]
    img = (
        Image.open(image).convert(decode["mode"]).resize((decode["width"], decode["height"]), Image.Resampling.BILINEAR)
    )
    x = np.asarray(img, dtype=np.float32)[None] / 255  # (1, H, W) for grey
    x = (x - np.array(prep["mean"], dtype=np.float32)[:, None, None]) / np.array(prep["std"], dtype=np.float32)[
        :, None, None
    ]
    assert prep["then"] == []  # digits into LeNet5: nothing to adapt
    return x[None].astype(np.float32)


@pytest.mark.parametrize(
    "name", [pytest.param("onnx", marks=pytest.mark.skipif(not HAS_ONNX, reason="no onnx extra")), "torchscript"]
)
@pytest.mark.slow
def test_the_exported_file_and_its_sidecar_classify_as_predict_does(
    trained: Trained, typed: Typed, tmp_path: Path, name: str
) -> None:
    image = tmp_path / "digit.png"
    record = read_checkpoint(trained.checkpoint).record
    Image.fromarray((np.arange(28 * 28).reshape(28, 28) % 251).astype(np.uint8)).save(image)
    [predicted] = run_job(
        *typed("task=predict", f"ckpt_path={trained.checkpoint}", f"input={image}", "top_k=10", run="p")
    )
    done = run_job(*typed("task=export", f"ckpt_path={trained.checkpoint}", f"format={name}", run="e"))
    sidecar = json.loads(done.path.with_name(done.path.name + ".json").read_text())
    assert sidecar["classes"] == list(record.data.classes) and sidecar["input"]["shape"] == ["batch", 1, 28, 28]
    assert sidecar["preprocess"]["mean"] == list(record.data.mean) and sidecar["verified"]["max_abs_difference"] <= 1e-4
    x = _sidecar_input(sidecar, image)
    if name == "onnx":
        import onnxruntime

        logits = onnxruntime.InferenceSession(str(done.path)).run(None, {sidecar["input"]["name"]: x})[0]
    else:
        logits = torch.jit.load(str(done.path))(torch.from_numpy(x)).detach().numpy()
    probs = torch.from_numpy(logits).softmax(1)[0]
    by_name = dict(zip(predicted.classes, predicted.probabilities))
    assert [by_name[c] for c in sidecar["classes"]] == pytest.approx(probs.tolist(), abs=1e-5)


def test_the_run_folder_is_named_after_the_checkpoints_model(
    trained: Trained, cli: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    content = torch.load(trained.checkpoint, weights_only=True)
    content["cnnexp"]["run"]["model"]["name"] = "renamed_net"  # not the config's default model (lenet5)
    torch.save(content, tmp_path / "renamed.ckpt")
    assert cli("task=export", f"ckpt_path={tmp_path / 'renamed.ckpt'}", "format=torchscript")[0] == 0
    [folder] = (tmp_path / "outputs" / "runs").iterdir()  # cli runs in tmp_path
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_renamed_net_[0-9a-f]{6}", folder.name)
    assert (folder / "renamed_net.pt").is_file()
