"""The resolvers conf/config.yaml names its folders with (`${cnnexp.name:}`, `${cnnexp.model:}`, `${cnnexp.token:}`,
`${cnnexp.job:}`; rundir/names.py makes the names), registered by the command line's door before Hydra names
a folder, and in every launcher process that imports cnnexp.app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from cnnexp.config.task_names import FROM_CHECKPOINT
from cnnexp.rundir.names import job_folder, safe_name, token


def run_model(name: Any, task: Any, ckpt_path: Any) -> str:
    """The model a run folder is named after, as a safe name: for a task that rebuilds its model from ckpt_path,
    the name its record gives (task=test of an alexnet_small checkpoint is an alexnet_small run, whatever the
    config's default model); `name` otherwise, or when the file is no checkpoint with a record."""
    if task in FROM_CHECKPOINT and ckpt_path is not None:
        from cnnexp.checkpoint.load import recorded_model  # here: it imports torch, which --help does not need

        name = recorded_model(Path(str(ckpt_path)).expanduser()) or name
    return safe_name(name)


def register_resolvers() -> None:
    """Make `cnnexp.name`, `cnnexp.model`, `cnnexp.token` and `cnnexp.job` known to OmegaConf (safe to call again).

    `token` is cached: every read of one composed config (and of the sweep jobs' configs, which Hydra gives
    a copy of the cache) sees the same tag."""
    OmegaConf.register_new_resolver("cnnexp.name", safe_name, replace=True)
    OmegaConf.register_new_resolver("cnnexp.model", run_model, replace=True)
    OmegaConf.register_new_resolver("cnnexp.token", token, replace=True, use_cache=True)
    OmegaConf.register_new_resolver("cnnexp.job", job_folder, replace=True)
