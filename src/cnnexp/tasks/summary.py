"""task=summary: the model's table (or JSON) from its config alone: no data, no training."""

from __future__ import annotations

import json

from omegaconf import DictConfig

from cnnexp.experiment import model_spec
from cnnexp.model.summary import Summary, summarize
from cnnexp.tasks.base import TASKS


@TASKS.register("summary")
def summary_task(cfg: DictConfig) -> Summary:
    summary = summarize(model_spec(cfg))
    print(json.dumps(summary.to_dict(), indent=2) if cfg.json else summary.table())
    return summary
