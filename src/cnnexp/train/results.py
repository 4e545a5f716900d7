"""What a run leaves in its folder beside the checkpoints: summary.txt/json and TensorBoard's extras (metrics.json
and other files are written through rundir/files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnexp.model.summary import Summary
from cnnexp.rundir.files import write_json

if TYPE_CHECKING:
    import pytorch_lightning as pl


def write_summary(run_dir: Path, summary: Summary) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.txt").write_text(summary.table() + "\n")
    write_json(run_dir / "summary.json", summary.to_dict())


def hparams(summary: Summary, choices: dict[str, Any]) -> dict[str, Any]:
    """The run's choices as TensorBoard's hparams tab shows them (scalars and strings only)."""
    return {**choices, "model": summary.spec.name, "activation": summary.activation, "params": summary.params}


def log_to_tensorboard(
    trainer: pl.Trainer, summary: Summary, choices: dict[str, Any], metrics: dict[str, float]
) -> None:
    """The summary table as text, and the hparams tab: this run's choices against its final metrics."""
    from pytorch_lightning.loggers import TensorBoardLogger  # here: tasks/ reach write_json without Lightning

    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            # Four leading spaces make TensorBoard's markdown keep the table's columns.
            logger.experiment.add_text(
                "model/summary", "\n".join("    " + line for line in summary.table().splitlines())
            )
            logger.log_hyperparams(hparams(summary, choices), {f"hp/{k}": v for k, v in metrics.items()})
            logger.finalize("success")
