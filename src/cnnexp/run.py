"""The edge: the composed config read once into a frozen, typed `Run` that every task receives.

Each group is read by the module of its own package (data/spec.py, model/spec.py, train/optim.py, ...); this
file only calls them in order and adds what one group decides for another: an image folder's class count
becomes the model's `num_classes` when the model follows the data. Nothing writes to the DictConfig after
Hydra composed it. `Run.to_dict` / `Run.from_dict` turn a run into plain data and back, without Hydra.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from cnnexp.config import fields as fd
from cnnexp.config.groups import read_group, setting, to_plain
from cnnexp.config.invocation import Invocation
from cnnexp.data.sources import resolve_data
from cnnexp.data.spec import DataSpec, read_data
from cnnexp.errors import ConfigError
from cnnexp.model.plugins import PLUGINS, load_plugins, missing_hint, read_plugins
from cnnexp.model.spec import ModelSpec, parse_model
from cnnexp.train.callbacks import read_callbacks
from cnnexp.train.instantiate import Target
from cnnexp.train.logger import read_logger
from cnnexp.train.loss import LossSpec, read_loss
from cnnexp.train.optim import ScheduleSpec, read_optimizer, read_schedule
from cnnexp.train.targets import check_recorded, check_targets
from cnnexp.train.trainer import TrainerSpec, read_trainer
from cnnexp.viz.schema import KernelsSpec, read_kernels

GROUPS = ("model", "data", "optimizer", "scheduler", "loss", "trainer", "callbacks", "logger", "kernels")
# torch.manual_seed takes any int, but numpy's and DataLoader workers' seeds must fit 32 bits unsigned.
LARGEST_SEED = 2**32 - 1


def _seed(value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `seed=1e3` is a whole number written as a float; 1.5 is not, and is refused
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LARGEST_SEED:
        raise ConfigError(
            f"{where} must be a whole number from 0 to {LARGEST_SEED} (numpy and DataLoader workers take 32-bit "
            f"seeds), got {value!r}."
        )
    return value


def _optional_path(value: Any, where: str) -> Path | None:
    return None if value is None else Path(fd.text(str(value), where)).expanduser()


def _path(value: Any, where: str) -> Path:
    return Path(fd.text(str(value), where)).expanduser()


def _text(value: Any, where: str) -> str:
    return fd.text(str(value), where)  # a file name Hydra read as a number (`input=7.png` is text; `input=7` is not)


def _names(value: Any, where: str) -> tuple[str, ...]:
    """One layer name or pattern (`conv1`, `layer1.*`), or a list of them."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{where} must be a layer name or a list of them, e.g. {where}=[conv1,conv2]; got {value!r}.")
    return tuple(fd.text(v, f"{where}[{i}]") for i, v in enumerate(values))


@dataclass(frozen=True)
class Options:
    """The top-level keys of conf/config.yaml."""

    task: str = setting(fd.text, "train")
    seed: int = setting(_seed, 0)
    ckpt_path: Path | None = setting(_optional_path, None)
    json: bool = setting(fd.boolean, False)
    optimized_metric: str = setting(fd.text, "test_acc")
    skip_completed: bool = setting(fd.boolean, False)
    overwrite: bool = setting(fd.boolean, False)
    output_dir: Path = setting(_path, Path("."))
    init_from: str | None = setting(fd.optional(fd.text), None)  # a checkpoint's weights to start from, or torchvision
    freeze: tuple[str, ...] = setting(_names, ())  # layers (names or patterns) whose weights are not trained
    input: str | None = setting(fd.optional(_text), None)  # task=predict: an image file, a folder or a glob
    top_k: int = setting(fd.integer(1), 5)  # task=predict: classes shown per image
    format: str = setting(fd.text, "onnx")  # task=export: onnx, torchscript or pt2
    output: Path | None = setting(
        _optional_path, None
    )  # task=export | predict: the file to write, else in the run folder
    plugins: tuple[str, ...] = setting(read_plugins, ())  # your modules of layer types, imported before the run is read


@dataclass(frozen=True)
class Run:
    """One run, as typed values: what the tasks build from, and what a checkpoint records."""

    model: ModelSpec
    data: DataSpec
    optimizer: Target
    scheduler: ScheduleSpec | None
    loss: LossSpec
    trainer: TrainerSpec
    callbacks: Mapping[str, Target]
    logger: Mapping[str, Target]  # by name; empty: the run logs nowhere
    kernels: KernelsSpec
    options: Options
    # How this process was started (Hydra's settings, read at the door): not part of the run's record.
    invocation: Invocation = field(default=Invocation(), compare=False)

    @property
    def output_dir(self) -> Path:
        return self.options.output_dir

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, str, numbers, bools, None): JSON- and YAML-safe, loadable with weights_only."""
        return {
            "model": self.model.to_dict(),
            "data": to_plain(self.data),
            "optimizer": self.optimizer.to_dict(),
            "scheduler": self.scheduler.to_dict() if self.scheduler else None,
            "loss": to_plain(self.loss),
            "trainer": self.trainer.to_dict(),
            "callbacks": {name: target.to_dict() for name, target in self.callbacks.items()},
            "logger": {name: target.to_dict() for name, target in self.logger.items()},
            "kernels": to_plain(self.kernels),
            **to_plain(self.options),
        }

    @classmethod
    def from_dict(cls, plain: Mapping[str, Any], where: str = "run", vouched: Mapping[str, str] | None = None) -> Run:
        """The run `to_dict` wrote, read from a file (`where` names it): data, never trusted. Every class it names is
        looked up among those cnnexp knows (or `vouched`: the ones this command names, by key) before anything else
        is read, then every key is checked again by the config's own readers."""
        check_recorded(plain, where, vouched or {})
        return read_tree(plain)

    def on_gpu(self, index: int) -> Run:
        return replace(self, trainer=self.trainer.on_gpu(index))


def read_run(cfg: DictConfig, invocation: Invocation | None = None) -> Run:
    """The one reader of a composed config: `_target_` policy, interpolations, then each group in turn; the
    Run carries `invocation`, how this process was started (a composed config alone: none of Hydra's settings)."""
    check_targets(cfg)
    tree = resolved(cfg)
    # Only here, from the command line and your configs, are plugins imported: never from a record (read_tree).
    load_plugins(read_plugins(tree.get(PLUGINS)))
    return replace(read_tree(_classes_counted(cfg, tree)), invocation=invocation or Invocation())


def _classes_counted(cfg: DictConfig, tree: dict[str, Any]) -> dict[str, Any]:
    """The tree resolved again from a copy of `cfg` whose data.num_classes is what the source counted (an image
    folder's class folders) where the YAML left it null: the model's `${data.num_classes}`, and the head's
    `out: ${model.num_classes}` through it, must become that number, not null."""
    if not isinstance(tree.get("data"), Mapping) or tree["data"].get("num_classes") is not None:
        return tree
    counted = resolve_data(read_data(tree["data"])).num_classes
    if counted is None:
        return tree
    filled = copy.deepcopy(cfg)  # the composed config itself is never written to
    with open_dict(filled):
        filled.data.num_classes = counted
    return resolved(filled)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The whole config as plain data, every interpolation resolved (a broken one is the user's mistake)."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        where = getattr(err, "full_key", "") or "the config"
        raise ConfigError(
            f"{where}: {str(err).splitlines()[0]}; fix the interpolation (${{...}}) or the key it names."
        ) from None
    assert isinstance(tree, dict)  # a composed config is a mapping at the top
    return {str(key): value for key, value in tree.items()}


def read_tree(tree: Mapping[str, Any]) -> Run:
    """A Run from the whole config as plain data (composed and resolved, or a record of one)."""
    data = resolve_data(read_data(tree["data"]))
    model = _model(tree["model"], data, tree.get(PLUGINS))
    trainer = read_trainer(tree.get("trainer") or {})
    logger = read_logger(tree.get("logger"))
    options = read_group(Options, {k: v for k, v in tree.items() if k not in GROUPS}, "")
    return Run(
        model=model,
        data=data,
        optimizer=read_optimizer(tree["optimizer"]),
        scheduler=read_schedule(tree.get("scheduler")),
        loss=read_loss(tree.get("loss") or {}),
        trainer=trainer,
        callbacks=read_callbacks(tree.get("callbacks"), trainer.args, has_logger=bool(logger)),
        logger=logger,
        kernels=read_kernels(tree.get("kernels") or {}),
        options=options,
    )


def _model(raw: Any, data: DataSpec, plugins: Any = ()) -> ModelSpec:
    """The model, its class count following the data's when the YAML left it to the data (null)."""
    if isinstance(raw, Mapping) and raw.get("num_classes") is None and data.num_classes is not None:
        raw = {**raw, "num_classes": data.num_classes}
    try:
        return parse_model(raw)
    except ConfigError as err:  # a layer type of a plugin module that is not loaded: name the module
        raise ConfigError(f"{err}{missing_hint(plugins)}") from None
