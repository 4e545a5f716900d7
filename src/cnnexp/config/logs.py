"""What a run prints and what cnnexp.log keeps (conf/hydra/job_logging/cnnexp.yaml wires these filters).

The console shows cnnexp's own lines on stdout and every warning from anywhere on stderr; the run's cnnexp.log
keeps everything, Lightning's messages included, with times. Messages known to be harmless are dropped by
their exact text, never by category: Lightning's adverts for its cloud products, a FutureWarning that
Lightning 2.6 raises from torch's pytree module at every fit (Lightning's own code, nothing a user can change),
Lightning's warning that a mid-epoch resume may be unreliable (cnnexp's loaders resume exactly), and, under DDP,
Lightning's advice to log epoch values with sync_dist=True, for the values cnnexp logs: they come from
torchmetrics objects, which already reduce across processes when they compute. Imports nothing heavy: Hydra
builds these filters before any task runs.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable

# Log records (rank-zero infos) that advertise Lightning's cloud products, by the start of their text.
ADVERTS = (
    "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]",
    "💡 Tip: For seamless cloud uploads and versioning, try installing [litmodels]",
)
# Warnings that say nothing about the user's run, by their whole text and category.
HARMLESS_WARNINGS = (
    (
        "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and "
        "treespec.is_leaf()` instead.",
        FutureWarning,
    ),
    (
        # False for cnnexp's loaders: they skip the batches a mid-epoch checkpoint had trained (data/batches.py), so
        # a resumed run trains what the uninterrupted one would, to the last bit (tests/train/test_faults.py).
        "You're resuming from a checkpoint that ended before the epoch ended and your dataloader is not resumable. "
        "This can cause unreliable results if further training is done. Consider using an end-of-epoch checkpoint "
        "or make your dataloader resumable by implementing the `state_dict` / `load_state_dict` interface.",
        UserWarning,
    ),
)
OWN = "cnnexp"
FILE_ONLY = {"console": False}  # log.info(..., extra=FILE_ONLY): into cnnexp.log, not onto the console


class OwnInfo(logging.Filter):
    """cnnexp's own records below WARNING, from the first process of a run (DDP ranks share one terminal; each
    rank's log file keeps its own), except those logged for the file alone (`extra=FILE_ONLY`). Warnings go to
    stderr, from any library."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN or record.name.startswith(f"{OWN}.")
        shown = getattr(record, "console", True)
        return own and shown and record.levelno < logging.WARNING and is_rank_zero()


class KnownNoise(logging.Filter):
    """Drops the adverts (ADVERTS); trims the blank line a captured warning ends with."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "py.warnings" and isinstance(record.msg, str):
            record.msg = record.msg.rstrip()
        return not record.getMessage().startswith(ADVERTS)


def quiet_empty_validation() -> None:
    """Ignore Lightning's "Total length of `...` across ranks is zero" for a run whose validation split is empty
    or switched off by its settings (train/unvalidated.py says so in a line of its own), by exact text."""
    loaders = ("EvalBatches", "DataLoader")  # cnnexp's in-memory batches; torch's loader (decoded data)
    _ignore(
        (f"Total length of `{loader}` across ranks is zero. Please make sure this was your intention.", UserWarning)
        for loader in loaders
    )


def _ignore(known: Iterable[tuple[str, type[Warning]]]) -> None:
    """Ignore each warning of `known` by its exact text and category."""
    for text, category in known:
        warnings.filterwarnings("ignore", message=re.escape(text) + r"\Z", category=category)


def is_rank_zero() -> bool:
    """Whether this process is the first of its run (DDP and SLURM ranks read from the environment)."""
    return all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def sync_dist_advice(name: str) -> str:
    """Lightning's advice, word for word, for an epoch value logged without sync_dist under DDP."""
    return (
        f"It is recommended to use `self.log({name!r}, ..., sync_dist=True)` when logging on epoch level in "
        f"distributed setting to accumulate the metric across devices."
    )


def quiet_known_noise(synced: Iterable[str] = (), continued_in: str | None = None) -> None:
    """Ignore HARMLESS_WARNINGS, the sync_dist advice for the logged names in `synced`, and Lightning's "Checkpoint
    directory ... exists and is not empty" for `continued_in`, the checkpoints/ folder of a run that continues in
    its own folder (it holds that run's checkpoints, as it should), by exact text; drop the adverts from
    Lightning's rank-zero logger whatever handlers it has (also outside a Hydra run)."""
    known = [*HARMLESS_WARNINGS, *((sync_dist_advice(name), UserWarning) for name in synced)]
    if continued_in is not None:
        known.append((f"Checkpoint directory {continued_in} exists and is not empty.", UserWarning))
    _ignore(known)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, KnownNoise) for f in logger.filters):
            logger.addFilter(KnownNoise())
