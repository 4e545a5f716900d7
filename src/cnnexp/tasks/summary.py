"""task=summary: the model's table (or JSON) from its config alone: no data, no training."""

from __future__ import annotations

import json

from cnnexp.model.summary import Summary, summarize
from cnnexp.run import Run
from cnnexp.tasks.base import TASKS


@TASKS.register("summary")
def summary_task(run: Run) -> Summary:
    summary = summarize(run.model)
    print(json.dumps(summary.to_dict(), indent=2) if run.options.json else summary.table())
    return summary
