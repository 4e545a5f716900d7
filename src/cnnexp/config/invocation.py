"""How this process was started: Hydra's own settings, read once at the door into a frozen value the Run carries.

Only the doors read Hydra's state (cnnexp/cli/invocation.py for the command line, cnnexp/api.py for Python);
everything below them takes this value: the overrides as typed (what a checkpoint's task tells from the
config's defaults, what a continue command repeats), whether the job belongs to a multirun, the launcher, the
folder the command started in, the job's folder, the arguments that give a child process the same configs,
your config folders, and Hydra's own config as .hydra/hydra.yaml keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


@dataclass(frozen=True)
class Invocation:
    overrides: tuple[str, ...] = ()  # the command line's overrides as typed (a sweep job's: its own)
    multirun: bool = False  # a job of `python -m cnnexp -m ...`
    launcher: str | None = None  # Hydra's hydra/launcher choice: basic, joblib (local_parallel), submitit_slurm
    cwd: Path | None = None  # where the command was started: DDP rank processes start there too
    job_dir: Path | None = None  # Hydra's runtime.output_dir: the job's folder, also when the config is unreadable
    child_arguments: tuple[str, ...] = ()  # --config-name / hydra.searchpath that give a child process these configs
    user_folders: tuple[Path, ...] = ()  # your config folders in the search path (conf/ left out), in order
    hydra_yaml: str | None = None  # Hydra's own config of this job, written to .hydra/hydra.yaml; None outside Hydra

    @property
    def parallel(self) -> bool:
        """Jobs run side by side in one machine's processes (launcher=local_parallel uses joblib)."""
        return self.launcher == "joblib"


def as_typed(overrides: Any) -> list[str]:
    """Hydra's list of overrides (a ListConfig) as typed: iterating it would resolve an interpolation inside an
    override (`model.name=${data.name}`)."""
    texts = OmegaConf.to_container(overrides, resolve=False)
    assert isinstance(texts, list), "Hydra keeps the overrides as a list"
    return [str(text) for text in texts]
