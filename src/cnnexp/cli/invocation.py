"""The one reader of Hydra's own state (HydraConfig): what `python -m cnnexp` and each job of a sweep were started
with, as the frozen Invocation (config/invocation.py) that the Run carries below the door."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from cnnexp import CONF_DIR
from cnnexp.cli.configdirs import NOT_PASSED_ON, PRIMARY, searchpath_override
from cnnexp.config.invocation import Invocation, as_typed


def from_hydra() -> Invocation:
    """This Hydra job's settings; the defaults of a process that Hydra did not start (a test composing itself)."""
    if not HydraConfig.initialized():
        return Invocation(cwd=Path(os.getcwd()))
    hydra = HydraConfig.get()
    sources = list(hydra.runtime.config_sources)
    return Invocation(
        overrides=tuple(as_typed(hydra.overrides.task)),
        multirun=hydra.mode == RunMode.MULTIRUN,
        launcher=hydra.runtime.choices.get("hydra/launcher"),
        cwd=_folder(hydra, "runtime.cwd") or Path(os.getcwd()),
        job_dir=_folder(hydra, "runtime.output_dir"),
        child_arguments=tuple(_child_arguments(hydra.job.config_name, sources)),
        user_folders=tuple(_user_folders(sources)),
        hydra_yaml=OmegaConf.to_yaml(HydraConfig.instance().cfg),
    )


def _folder(hydra: Any, key: str) -> Path | None:
    """A folder Hydra sets when it runs a job (a config composed with the compose API has none)."""
    value = OmegaConf.select(hydra, key, default=None)
    return None if value is None else Path(str(value))


def _child_arguments(config_name: str | None, sources: list[Any]) -> list[str]:
    """Flags and overrides that give a process started for this job the same configs: its search path, and its
    primary config when that is not cnnexp's."""
    entries = [f"{s.schema}://{s.path}" for s in sources if s.provider not in NOT_PASSED_ON]
    named = ["--config-name", config_name] if config_name and config_name != PRIMARY else []
    return [*named, searchpath_override(entries)]


def _user_folders(sources: list[Any]) -> list[Path]:
    """Your config folders in this job's search path, in order (cnnexp's own conf/ left out)."""
    return [
        Path(s.path)
        for s in sources
        if s.schema == "file" and s.provider not in ("hydra", "schema") and Path(s.path) != CONF_DIR
    ]
