"""The Hydra callback that writes the sweep report when a multirun ends (conf/config.yaml: hydra.callbacks.report).

Hydra instantiates callbacks for every run, single or multi, so this module imports nothing heavy: the report
code is imported only when a multirun has ended.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    """Writes report.md, report.csv and the plots into hydra.sweep.dir after the last job."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        # Never raises: the jobs have finished and written their results, and a report that cannot be drawn
        # must not turn that sweep into a failure. `python -m cnnexp.report DIR` redoes it.
        sweep_dir = None
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            if str(config.get("task", "train")) == "summary":
                return  # summaries write no metrics.json: a report would list every job as failed
            from cnnexp.report.build import write_report

            report = write_report(sweep_dir)
            log.info("sweep report: %s", "  ".join(str(p) for p in report.files))
        except Exception as err:
            why = f"{type(err).__name__}: {err}"
            log.warning("sweep report not written for %s: %s (python -m cnnexp.report DIR retries)", sweep_dir, why)
