"""What a run prints and what cnnexp.log keeps (conf/hydra/job_logging/cnnexp.yaml wires these filters).

The console shows cnnexp's own lines on stdout and every warning from anywhere on stderr; the run's cnnexp.log
keeps everything, Lightning's messages included, with times. Messages known to be harmless are dropped by their exact text,
never by category: Lightning's adverts for its cloud products, and a FutureWarning that Lightning 2.6 raises
from torch's pytree module at every fit (Lightning's own code, nothing a user can change). Imports nothing
heavy: Hydra builds these filters before any task runs.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

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
)
OWN = "cnnexp"


class OwnInfo(logging.Filter):
    """cnnexp's own records below WARNING, from the first process of a run (DDP ranks share one terminal; each
    rank's log file keeps its own). Warnings go to stderr, from any library."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN or record.name.startswith(f"{OWN}.")
        return own and record.levelno < logging.WARNING and is_rank_zero()


class KnownNoise(logging.Filter):
    """Drops the adverts (ADVERTS); trims the blank line a captured warning ends with."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "py.warnings" and isinstance(record.msg, str):
            record.msg = record.msg.rstrip()
        return not record.getMessage().startswith(ADVERTS)


def is_rank_zero() -> bool:
    """Whether this process is the first of its run (DDP and SLURM ranks read from the environment)."""
    return all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def quiet_known_noise() -> None:
    """Ignore HARMLESS_WARNINGS by exact text, and drop the adverts from Lightning's rank-zero logger whatever
    handlers it has (also outside a Hydra run, as in the Python API)."""
    for text, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(text) + r"\Z", category=category)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, KnownNoise) for f in logger.filters):
            logger.addFilter(KnownNoise())
