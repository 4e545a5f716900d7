"""init_from= loads the weights that fit (a new head is re-initialised), freeze= keeps layers as they are."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from omegaconf import DictConfig
from PIL import Image
from support import CONF, Compose, Trained

from cnnexp.app import run_job
from cnnexp.checkpoint import twins
from cnnexp.checkpoint.finetune import freeze, init_from, load_matching
from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build
from cnnexp.run import read_run

Tiny = Callable[..., DictConfig]
HEADS = {
    "alexnet_torchvision": ("fc8", 4096),
    "resnet18": ("fc", 512),
    "efficientnet_b0": ("classifier.1", 1280),
    "convnext_tiny": ("classifier.2", 768),
}  # each twin's classifier: a new class count


def _three_classes(tmp_path: Path) -> Path:
    root = tmp_path / "shapes"
    for split in ("train", "test"):
        for k, name in enumerate(("disc", "ring", "square")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(6):
                Image.new("L", (28, 28), 60 * k + 10 * i).save(folder / f"{i}.png")
    return root


def test_a_new_head_is_reinitialised_and_frozen_layers_stay(
    trained: Trained, tiny_cfg: Tiny, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = ("data=image_folder", f"data.root={_three_classes(tmp_path)}", "data.channels=1", "data.height=28", "data.width=28",
            "data.train_size=null", "data.test_size=null", "data.val_size=3", "data.batch_size=5", "data.num_workers=0")  # fmt: skip
    cfg = tiny_cfg(*data, f"init_from={trained.checkpoint}", "freeze=[conv*]", "model.activation=tanh")
    with caplog.at_level(logging.INFO):
        run_job(cfg)
    out = caplog.text  # the lines a run prints go through logging (and into cnnexp.log)
    assert f"init_from={trained.checkpoint}: loaded conv1, conv2, fc1 (3 layers, 171,040 parameters)\n" in out
    assert "  not loaded, freshly initialised: fc2 (weight 10×500 in the source, 3×500 here)\n" in out
    assert "freeze: conv1, conv2 (10,540 parameters not trained)\n" in out
    source = read_checkpoint(trained.checkpoint).weights
    tuned = read_checkpoint(Path(cfg.output_dir) / "checkpoints" / "last.ckpt").weights
    assert all(torch.equal(tuned[k], source[k]) for k in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"))
    assert not torch.equal(tuned["fc1.weight"], source["fc1.weight"])  # loaded, then trained
    metrics = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    assert (metrics["params"], metrics["trainable_params"]) == (172_543, 172_543 - 10_540)


def test_load_matching_reports_by_layer_and_leaves_the_rest_fresh(compose_cfg: Compose) -> None:
    ten = build(read_run(compose_cfg()).model)
    three = build(read_run(compose_cfg("model.num_classes=3", "model.layers.fc1.out=400")).model)
    fresh = {k: v.clone() for k, v in three.state_dict().items()}
    report = load_matching(three, ten.state_dict(), "X")
    assert report.loaded == {"conv1": 520, "conv2": 10_020}
    assert report.fresh == {
        "fc1": "weight 500×320 in the source, 400×320 here",
        "fc2": "weight 10×500 in the source, 3×400 here",
    }
    assert torch.equal(three.conv2.weight, ten.conv2.weight) and torch.equal(three.fc2.weight, fresh["fc2.weight"])


def test_a_source_that_fits_nothing_is_an_error(compose_cfg: Compose) -> None:
    net = build(read_run(compose_cfg()).model)
    with pytest.raises(ConfigError, match=r"^init_from=X: none of its 2 tensors fits this network by name and shape "
                       r"\(it holds features\.0\.weight, features\.0\.bias, \.\.\.; this network conv1\.weight"):  # fmt: skip
        load_matching(net, {"features.0.weight": torch.zeros(3), "features.0.bias": torch.zeros(3)}, "X")


def test_init_from_takes_a_plain_state_dict(compose_cfg: Compose, tmp_path: Path) -> None:
    source = build(read_run(compose_cfg()).model)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    net = build(read_run(compose_cfg("seed=1")).model)
    assert list(init_from(net, str(tmp_path / "weights.pt"), "lenet5").loaded) == ["conv1", "conv2", "fc1", "fc2"]
    assert torch.equal(net.fc2.weight, source.fc2.weight)


@pytest.mark.parametrize(
    ("patterns", "frozen"),
    [(["conv1"], ["conv1"]), (["conv*"], ["conv1", "conv2"]), (["fc?", "conv2"], ["conv2", "fc1", "fc2"])],
)
def test_freeze_by_name_or_pattern(compose_cfg: Compose, patterns: list[str], frozen: list[str]) -> None:
    net = build(read_run(compose_cfg()).model)
    assert freeze(net, patterns, "lenet5") == frozen
    assert sorted({n.rpartition(".")[0] for n, p in net.named_parameters() if not p.requires_grad}) == frozen


def test_freeze_names_the_layers_there_are(compose_cfg: Compose) -> None:
    net = build(read_run(compose_cfg()).model)
    with pytest.raises(ConfigError, match=r"^freeze: 'act1' names no layer with weights in model=lenet5; its layers with "
                       r"weights are conv1, conv2, fc1, fc2 \(patterns as in fnmatch"):  # fmt: skip
        freeze(net, ["act1"], "lenet5")


def test_init_from_and_freeze_are_for_training(trained: Trained, tiny_cfg: Tiny) -> None:
    with pytest.raises(ConfigError, match=r"^init_from= is for task=train \(starting a new run\); task=test takes its "
                       r"weights from ckpt_path: drop init_from\.$"):  # fmt: skip
        run_task_quietly(tiny_cfg("task=test", f"ckpt_path={trained.checkpoint}", f"init_from={trained.checkpoint}"))
    with pytest.raises(ConfigError, match=r"^ckpt_path= and init_from= are both given"):
        run_task_quietly(tiny_cfg(f"ckpt_path={trained.checkpoint}", f"init_from={trained.checkpoint}"))


def run_task_quietly(cfg: DictConfig) -> None:
    from cnnexp.tasks import task_named

    run = read_run(cfg)
    task_named(run.options.task)(run)


# --- torchvision's weights ------------------------------------------------------------------------------------


def _net(compose_cfg: Compose, model: str, classes: int) -> torch.nn.Module:
    return build(read_run(compose_cfg(f"model={model}", f"model.num_classes={classes}", "data.adapt=true")).model)


@pytest.mark.parametrize("model", twins.TWINS.names())
@pytest.mark.slow
def test_torchvision_weights_map_onto_the_twin(
    compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    if not (CONF / "model" / f"{model}.yaml").is_file():
        pytest.skip(f"conf/model/{model}.yaml is not in this checkout")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    twin = twins.TWINS.get(model, "model")
    torch.manual_seed(0)
    reference = getattr(torchvision.models, twin.model)(
        weights=None
    ).eval()  # random weights, saved where the hub looks
    twin.cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), twin.cached)
    assert twin.cached.parent == tmp_path / "hub" / "checkpoints"
    ours = _net(compose_cfg, model, 1000).eval()
    loaded = init_from(ours, "torchvision", model)
    assert loaded.fresh == {} and loaded.unused == []
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
    head = init_from(_net(compose_cfg, model, 10), "torchvision", model)
    layer, features = HEADS[model]
    assert head.fresh == {layer: f"weight 1000×{features} in the source, 10×{features} here"}


def test_offline_the_error_names_the_file_to_place(
    compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url: str, dst: str, *args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    file = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    with pytest.raises(ConfigError, match=(
        r"^init_from=torchvision: torchvision's ImageNet weights for model=alexnet_torchvision "
        r"\(AlexNet_Weights\.IMAGENET1K_V1\) are not in torch's hub cache and could not be downloaded \(<urlopen error "
        r"\[Errno -3\] Temporary failure in name resolution>\)\. On a machine with network, download "
        rf"https://download\.pytorch\.org/models/alexnet-owt-7be5be79\.pth and place it at {file} "
        r"\(the folder follows TORCH_HOME\); then run again\.$")):  # fmt: skip
        init_from(_net(compose_cfg, "alexnet_torchvision", 10), "torchvision", "alexnet_torchvision")


def test_a_model_without_a_twin(compose_cfg: Compose) -> None:
    with pytest.raises(ConfigError, match=r"^init_from=torchvision: model=lenet5 has no torchvision twin whose weights "
                       r"cnnexp can load; models that have one: alexnet_torchvision\b.*\. For other models, init_from takes a checkpoint"):  # fmt: skip
        init_from(build(read_run(compose_cfg()).model), "torchvision", "lenet5")
