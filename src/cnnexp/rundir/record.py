"""What a run records about itself in its folder: its config as Hydra composed it, resolved, and a hash of it.

Hydra would write `.hydra/` before the task starts, over whatever the folder held (conf/config.yaml sets
hydra.output_subdir to null); cnnexp writes it here instead, once the run holds its folder, so a refused or
skipped run changes nothing. The files are Hydra's three (config.yaml, hydra.yaml, overrides.yaml) plus
resolved.yaml, every interpolation resolved: what the job really ran with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from cnnexp.config.invocation import Invocation

# Options that say how to run, not what: a job resumed, skipped or re-run elsewhere is the same job.
NOT_IDENTITY = ("ckpt_path", "skip_completed", "overwrite", "output_dir", "json")


def config_hash(resolved: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the resolved config (keys sorted), without the NOT_IDENTITY options."""
    kept = {k: v for k, v in resolved.items() if k not in NOT_IDENTITY}
    text = json.dumps(kept, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_config(folder: Path, cfg: DictConfig, resolved: Mapping[str, Any], started: Invocation) -> None:
    """.hydra/config.yaml, overrides.yaml (and hydra.yaml, in a Hydra run) as Hydra writes them, and resolved.yaml."""
    out = folder / ".hydra"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if started.hydra_yaml is not None:
        (out / "hydra.yaml").write_text(started.hydra_yaml)
    (out / "overrides.yaml").write_text(OmegaConf.to_yaml(list(started.overrides)))
    (out / "resolved.yaml").write_text(yaml.safe_dump(_yaml_safe(resolved), sort_keys=False, allow_unicode=True))


def _yaml_safe(value: Any) -> Any:
    """YAML-safe: tuples as lists, anything unusual as its text."""
    if isinstance(value, Mapping):
        return {str(k): _yaml_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v) for v in value]
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)
