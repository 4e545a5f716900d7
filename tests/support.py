"""What tests share that is not a fixture: the repository's folders, the tiny run's overrides, the records the
session fixtures hand out, and readers of a run's stderr and a sweep job's overrides.

Test modules import these from here (`from support import TINY`), never from conftest: pytest loads conftest.py
itself, and importing it again as a module would make a second copy of every fixture's code.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cnnexp.config.invocation import Invocation

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
MODEL_NAMES = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
CUDA_SITE = ROOT / "tests" / "cuda_site"  # fake_cuda.py and the sitecustomize.py that installs it

Compose = Callable[..., DictConfig]
Cli = Callable[..., tuple[int, str]]

# A tiny run as a user gets it, the pictures included: what the tests of the pictures and of a whole run use.
TINY_PICTURES = (
    "data.train_size=700", "data.val_size=100", "data.test_size=200", "data.batch_size=50",
    "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "callbacks.progress=null",
)  # fmt: skip
# The other tests' tiny runs: matplotlib's drawing of the pictures took half of such a run (1.7 of 3.4 s).
TINY = (*TINY_PICTURES, "callbacks.pictures=null")


def one_paragraph(err: str) -> str:
    """The one `cnnexp: error:` line of stderr (and no traceback), without its prefix."""
    lines = [line for line in err.splitlines() if line.startswith("cnnexp: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0].removeprefix("cnnexp: error: ")


def job_overrides(job: Path) -> list[str]:
    """A sweep job's overrides as Hydra recorded them (.hydra/overrides.yaml): what its folder name shortens."""
    return list(yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))


class SigtermAfterFirstJob(Callback):
    """A Hydra callback (`+hydra.callbacks.stop._target_=support.SigtermAfterFirstJob`): SIGTERM once the first
    job of a sweep has ended, before the next starts, when no Trainer runs."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.job.num == 0:
            os.kill(os.getpid(), signal.SIGTERM)


class Typed(NamedTuple):
    cfg: DictConfig
    started: Invocation  # how the command line would have started it: the overrides as typed


@dataclass(frozen=True)
class Trained:
    checkpoint: Path  # the best checkpoint, the one the run tested
    folder: Path
    metrics: dict
