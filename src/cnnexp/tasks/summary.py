"""task=summary: the model's table (or JSON) from its config alone: no data, no training."""

from __future__ import annotations

import json

from omegaconf import DictConfig, OmegaConf

from cnnexp.model.spec import ModelSpec, parse_model
from cnnexp.model.summary import Summary, summarize
from cnnexp.tasks import TASKS


def model_spec(cfg: DictConfig) -> ModelSpec:
    """The edge where the model config is read: resolved to plain data, then typed."""
    return parse_model(OmegaConf.to_container(cfg.model, resolve=True))  # type: ignore[arg-type]


@TASKS.register("summary")
def summary_task(cfg: DictConfig) -> Summary:
    summary = summarize(model_spec(cfg))
    print(json.dumps(summary.to_dict(), indent=2) if cfg.json else summary.table())
    return summary
