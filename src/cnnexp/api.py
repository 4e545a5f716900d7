"""cnnexp from Python (a notebook, a script): the same configs, checks and runs as the command line.

    from cnnexp import api

    cfg = api.compose("model=alexnet_small", "data=cifar10")        # a DictConfig, as `python -m cnnexp` composes it
    run = api.read(cfg)                                             # the typed, checked Run every task receives
    net, summary = api.build_model("lenet5")                        # a shipped model: nn.Module and its table
    net, summary = api.build_model("my_conf/model/tiny.yaml", "data=cifar10")  # a YAML file, following that data
    net, summary = api.build_model({"name": "t", "input": {...}, "num_classes": 10, "layers": {...}})
    metrics = api.train("model=lenet5", "trainer.max_epochs=1")     # trains and tests; metrics.json as a dict

Every function takes the command line's overrides as strings and `config_dir=`, a folder of configs of your
own that come before the shipped ones (as `--config-dir`). Mistakes raise cnnexp.errors.ConfigError with the
message the command line prints. Runs write to `output_dir`, by default outputs/runs/<date>_<time>_<model>
below the current folder, as the command line does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from hydra import compose as hydra_compose
from hydra import initialize
from hydra.core.global_hydra import GlobalHydra
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cnnexp.cli.configdirs import PRIMARY, SHIPPED, command_line, register_primary, searchpath_override
from cnnexp.config.explain import explain
from cnnexp.config.invocation import Invocation
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build
from cnnexp.model.summary import Summary, summarize
from cnnexp.run import Run, read_run, read_tree, resolved
from cnnexp.schemas import register_schemas

RUN_DIR = "outputs/runs/${now:%Y-%m-%d_%H-%M-%S}_${model.name}"  # hydra.run.dir of conf/config.yaml


class Model(NamedTuple):
    net: nn.Module
    summary: Summary  # .table(), .params, .to_dict(): what task=summary prints


def compose(*overrides: str, config_dir: str | Path | None = None, output_dir: str | Path | None = None) -> DictConfig:
    """The config `python -m cnnexp OVERRIDES` would run (GROUP=null drops a group, as there)."""
    register_schemas()
    register_primary()
    folders = [f"file://{Path(config_dir).expanduser().resolve()}"] if config_dir else []
    args = [*command_line(list(overrides)), searchpath_override([*folders, SHIPPED])]
    with _hydra():
        try:
            return hydra_compose(PRIMARY, overrides=[*args, f"output_dir={output_dir or RUN_DIR}"])
        except Exception as err:
            explained = explain(err)  # what the command line says about the same mistake
            if explained is None:
                raise
            raise ConfigError(explained[0]) from None


@contextlib.contextmanager
def _hydra() -> Iterator[None]:
    """Hydra's compose API, also while another Hydra context is open (a run, a test's compose fixture)."""
    outer = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize(config_path=None, version_base="1.3"):
            yield
    finally:
        restore_gh_from_backup(outer)


def read(cfg: DictConfig) -> Run:
    """The typed Run of a composed config: every group checked, as before any task."""
    return read_run(cfg)


def build_model(source: str | Path | Mapping[str, Any], *overrides: str, config_dir: str | Path | None = None) -> Model:
    """A model from a shipped (or your config_dir's) name, a YAML file, or a dict written as the YAML would be.

    Its input and classes may follow the data (${data.channels}, ...): `overrides` choose the data
    ("data=cifar10"), digits by default. Nothing is trained."""
    if isinstance(source, str) and not source.endswith((".yaml", ".yml")):
        run = read(compose(f"model={source}", *overrides, config_dir=config_dir))
    else:
        run = _with_model(_model_node(source), compose(*overrides, config_dir=config_dir))
    return Model(build(run.model), summarize(run.model))


def _model_node(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(source, Mapping):
        node = dict(source)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"model file {path}: no such file; give a YAML file of a model, or a shipped model's name."
            )
        loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"model file {path}: a model is a mapping (name, input, num_classes, layers), got {loaded!r}."
            )
        node = {str(key): value for key, value in loaded.items()}
    node.pop("defaults", None)  # a copy of a shipped file may name its schema; the model is checked anyway
    return node


def _with_model(model: dict[str, Any], cfg: DictConfig) -> Run:
    """The run of `cfg` with this model in place of its own (interpolations such as ${data.channels} resolved)."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(tree, dict)
    return read_tree(resolved(OmegaConf.create({**tree, "model": model})))


def train(
    *overrides: str, config_dir: str | Path | None = None, output_dir: str | Path | None = None
) -> dict[str, Any]:
    """Train and test as `python -m cnnexp OVERRIDES` does, in this process; returns the run's metrics.json.

    The run goes through the command line's lifecycle (tasks/lifecycle.py): its folder is claimed and locked,
    its config recorded in .hydra/, metrics.json says "running", then how it ended; a mistake raises
    ConfigError (a failed training TrainingFailed) with the command line's message, recorded in metrics.json
    too. DDP needs processes of its own: use the command line for trainer.strategy=ddp."""
    from cnnexp.tasks.lifecycle import execute
    from cnnexp.train.launch import ddp_processes

    cfg = compose("task=train", *overrides, config_dir=config_dir, output_dir=output_dir)
    given = [*overrides, *([f"output_dir={output_dir}"] if output_dir else [])]
    ran: list[Run] = []

    def in_this_process(run: Run) -> None:
        if ddp_processes(run.trainer.args) > 1:
            raise ConfigError(
                "the Python API trains in this one process: for trainer.strategy=ddp use the command line."
            )
        ran.append(run)

    with _printing():
        execute(cfg, Invocation(overrides=tuple(given), cwd=Path.cwd()), check=in_this_process)
    return json.loads((ran[0].output_dir / "metrics.json").read_text())


@contextlib.contextmanager
def _printing() -> Iterator[None]:
    """cnnexp's lines (the model table, the start-of-run line, the result) on stdout, unless your logging shows
    them already (a handler of its own, or a root logger set up for INFO)."""
    logger, root = logging.getLogger("cnnexp"), logging.getLogger()
    if logger.handlers or (root.handlers and root.isEnabledFor(logging.INFO)):
        yield
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not `.level =`: it clears the INFO-is-off answers loggers cached
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
