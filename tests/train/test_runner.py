"""The runner in-process: every group instantiates, every model trains a step, real training learns."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import DictConfig
from support import CONF, MODEL_NAMES

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build
from cnnexp.run import read_run
from cnnexp.tasks import task_named
from cnnexp.tasks.assemble import assemble

Tiny = Callable[..., DictConfig]
OPTIONAL_LOGGERS = ("wandb", "mlflow")  # extras of cnnexp: their preset says what to install when missing
GROUPS = ("optimizer", "scheduler", "loss", "trainer", "logger", "callbacks", "data")
# Models made for other input than 1×28×28 digits get the digits resized (data.adapt=null, the default); tiny
# batches keep 224×224 and 227×227 models (AlexNet, ConvNeXt, EfficientNet, ...) cheap on a CPU.
BIG = ("data.batch_size=2",)
GRADIENT_CHECK = "+callbacks.gradients={_target_: gradcheck.GradientCheck}"


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _metrics(cfg: DictConfig) -> dict:
    return json.loads((Path(cfg.output_dir) / "metrics.json").read_text())


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in _options(g)])
@pytest.mark.slow
def test_every_config_group_option_instantiates(tiny_cfg: Tiny, group: str, option: str) -> None:
    extra = ("data.root=/nonexistent", "data.num_classes=3") if option in ("image_folder", "csv", "hf") else ()
    if group == "logger" and option in OPTIONAL_LOGGERS and importlib.util.find_spec(option) is None:
        with pytest.raises(
            ConfigError,
            match=rf"needs the '{option}' package, which is not installed: pip install 'cnnexp\[{option}\]'",
        ):
            read_run(tiny_cfg(f"{group}={option}"))
        return
    choice = f"callbacks=[default,{option}]" if group == "callbacks" and option != "default" else f"{group}={option}"
    exp = assemble(read_run(tiny_cfg(choice, *extra)))
    assert exp.trainer is not None and exp.module.net is not None


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.slow
def test_fast_dev_run_for_every_model(tiny_cfg: Tiny, name: str) -> None:
    # One training step of the model as shipped, on the data resized to its input where it is fixed; in that step
    # every trainable parameter gets a finite, non-zero gradient and every frozen one none (tests/gradcheck.py).
    needs_resize = yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())["input"]["height"] != "${data.height}"
    cfg = tiny_cfg("debug=fdr", f"model={name}", *(BIG if needs_resize else ()), GRADIENT_CHECK)
    run_job(cfg)
    metrics = _metrics(cfg)
    assert metrics["status"] == "ok" and metrics["model"] == name
    gradients = json.loads((Path(cfg.output_dir) / "gradients.json").read_text())
    with torch.device("meta"):  # the parameters' names, without their memory
        names = [param for param, _ in build(read_run(cfg).model).named_parameters()]
    assert list(gradients) == [f"net.{param}" for param in names]
    assert {p: state for p, state in gradients.items() if state not in ("ok", "frozen")} == {}


@pytest.mark.slow
def test_a_short_training_on_the_embedded_digits_learns(tiny_cfg: Tiny) -> None:
    cfg = tiny_cfg("data.train_size=3000", "data.val_size=500", "trainer.max_epochs=2")
    accuracy = run_job(cfg)
    metrics = _metrics(cfg)
    assert accuracy == metrics["test_acc"] > 0.6  # chance is 0.1
    assert metrics["test_images"] == 200 and metrics["epochs"] == 2
    assert metrics["params"] == 176_050 and metrics["train_images_per_s"] > 0
    assert 0 < metrics["best_val_acc"] <= 1
    run = Path(cfg.output_dir)
    assert (run / "checkpoints" / "last.ckpt").is_file() and Path(metrics["checkpoint"]).is_file()
    assert (run / "summary.txt").read_text().startswith("model lenet5")
    assert list((run / "tb").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_the_quadratic_cost_trains_too(tiny_cfg: Tiny) -> None:
    assert run_job(tiny_cfg("loss=mse", "data.train_size=3000", "data.val_size=500", "trainer.max_epochs=2")) > 0.3


@pytest.mark.slow
def test_same_seed_gives_identical_metrics_on_cpu(tiny_cfg: Tiny) -> None:
    first, second = tiny_cfg("seed=3", run="a"), tiny_cfg("seed=3", run="b")
    run_job(first), run_job(second)
    keys = ("test_acc", "test_loss", "best_val_acc")
    assert [_metrics(first)[k] for k in keys] == [_metrics(second)[k] for k in keys]


@pytest.mark.slow
def test_resume_continues_at_the_next_epoch(tiny_cfg: Tiny) -> None:
    first = tiny_cfg(run="first")
    run_job(first)
    last = Path(first.output_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    resumed = tiny_cfg(f"ckpt_path={last}", "trainer.max_epochs=2", run="resumed")
    run_job(resumed)
    assert _metrics(resumed)["epochs"] == 2
    assert torch.load(Path(resumed.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


@pytest.mark.slow
def test_last_ckpt_is_the_last_epoch_even_when_it_is_not_the_best(tiny_cfg: Tiny) -> None:
    # Rank by val/loss the wrong way round (max): the best stays epoch 0, and Lightning 2.6's save_last would
    # leave last.ckpt there too.
    cfg = tiny_cfg(
        "trainer.max_epochs=3", "callbacks.checkpoint.monitor=val/loss", "callbacks.checkpoint.filename=best"
    )
    run_job(cfg)
    folder = Path(cfg.output_dir) / "checkpoints"
    assert torch.load(folder / "best.ckpt", weights_only=True)["epoch"] == 0
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]


@pytest.mark.slow
def test_task_test_evaluates_a_checkpoint(tiny_cfg: Tiny) -> None:
    trained = tiny_cfg(run="trained")
    accuracy = run_job(trained)
    tested = tiny_cfg("task=test", f"ckpt_path={_metrics(trained)['checkpoint']}", run="tested")
    assert run_job(tested) == pytest.approx(accuracy)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("data.batch_size=0",), r"data.batch_size must be at least 1, got 0"),
        (("model.num_classes=5",), r"model.num_classes=5 but data=digits has 10 classes"),
        (("ckpt_path=/no/such.ckpt",), r"ckpt_path=/no/such.ckpt: no such file"),
        (("task=test",), r"task=test needs ckpt_path=PATH"),
        (
            ("model=alexnet", "data.adapt=false"),
            r"model takes 3×227×227 but data=digits gives 1×28×28; set data.adapt=true",
        ),
        (("trainer.gpus=1",), r"trainer.gpus=1 asks for 1 GPU\(s\) but this machine has none; run on the CPU instead"),
        (("trainer.accelerator=gpu",), r"trainer.accelerator=gpu asks for 1 GPU\(s\) but this machine has none"),
        (("optimizer.lr=-1",), r"optimizer: cannot build torch.optim.Adam: Invalid learning rate: -1"),
        (("task=fit",), r"task: unknown task 'fit'.*Known tasks: "),
    ],
)
def test_user_mistakes_are_config_errors(tiny_cfg: Tiny, overrides: tuple[str, ...], message: str) -> None:
    if torch.cuda.is_available():
        pytest.skip("the GPU errors need a machine without GPUs")
    with pytest.raises(ConfigError, match=message):
        run = read_run(tiny_cfg(*overrides))
        task_named(run.options.task)(run)
