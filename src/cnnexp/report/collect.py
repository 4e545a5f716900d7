"""Reading a sweep folder: its jobs, their overrides and metrics.json, grouped by the choices that were swept.

A job is any folder one or two levels under the sweep folder holding `.hydra/overrides.yaml` (Hydra writes it
before the job starts, so a job that crashed is found too). The swept keys are the override keys whose value
differs between jobs; `seed` among them means repeats of one choice, so jobs are grouped by the others.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnnexp.errors import ConfigError

SEED_KEY = "seed"
NO_METRICS = "no metrics.json (interrupted or crashed)"
AT_DEFAULT = "(default)"  # a swept key that one job's overrides do not name


@dataclass(frozen=True)
class Job:
    folder: Path
    overrides: dict[str, str]  # key -> value as written on the command line, in the order given
    metrics: dict[str, Any]  # metrics.json as written; {} when missing
    num: int | None  # hydra.job.num: the launch order
    problem: str = ""  # why metrics.json is missing or unreadable

    @property
    def status(self) -> str:
        return "failed" if self.problem else str(self.metrics.get("status", "failed"))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def reason(self) -> str:
        return self.problem or str(self.metrics.get("reason", ""))

    def value(self, key: str) -> Any:
        return self.metrics.get(key)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample std (n - 1); 0 for a single run
    n: int


@dataclass(frozen=True)
class Group:
    choice: tuple[tuple[str, str], ...]  # (key, value) for every swept key but seed
    jobs: list[Job]

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.choice) or "all jobs"

    def stat(self, key: str) -> Stat | None:
        """Mean and std of a metric over this group's successful jobs; None when none succeeded."""
        return stat_of(job.value(key) for job in self.jobs if job.ok)


@dataclass(frozen=True)
class Sweep:
    root: Path
    jobs: list[Job]
    swept: list[str]  # override keys whose value differs between jobs, in the order the overrides name them
    common: dict[str, str] = field(default_factory=dict)  # overrides every job shares

    @property
    def seeded(self) -> bool:
        return SEED_KEY in self.swept

    @property
    def choice_keys(self) -> list[str]:
        return [k for k in self.swept if k != SEED_KEY]

    def label(self, job: Job) -> str:
        """The job's swept overrides, the shortest name that tells it from the others."""
        return " ".join(f"{k}={job.overrides.get(k, AT_DEFAULT)}" for k in self.swept) or job.folder.name

    def groups(self) -> list[Group]:
        """Jobs sharing every swept value but the seed, in the order their first job was launched."""
        groups: dict[tuple[tuple[str, str], ...], list[Job]] = {}
        for job in self.jobs:
            choice = tuple((k, job.overrides.get(k, AT_DEFAULT)) for k in self.choice_keys)
            groups.setdefault(choice, []).append(job)
        return [Group(choice, jobs) for choice, jobs in groups.items()]


def stat_of(values: Iterable[Any]) -> Stat | None:
    """Mean, standard deviation and count of the numbers among `values` (true/false are no numbers); None if none."""
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
    return Stat(statistics.fmean(numbers), std, len(numbers))


def collect_sweep(path: Path | str) -> Sweep:
    """Every job under the sweep folder `path`; ConfigError when it is not a sweep folder."""
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ConfigError(f"sweep folder {root} {what}; give a multirun's folder (its hydra.sweep.dir).")
    jobs = sorted((read_job(folder) for folder in find_job_folders(root)), key=_launch_order)
    if not jobs:
        hint = " It is one run's folder: give the sweep folder above it." if (root / ".hydra").is_dir() else ""
        raise ConfigError(f"no jobs under {root}: no */.hydra/overrides.yaml one or two levels down.{hint}")
    swept, common = _split_overrides(jobs)
    return Sweep(root, jobs, swept, common)


def find_job_folders(root: Path) -> list[Path]:
    found = [*root.glob("*/.hydra/overrides.yaml"), *root.glob("*/*/.hydra/overrides.yaml")]
    return sorted({p.parent.parent for p in found})


def read_job(folder: Path) -> Job:
    metrics, problem = _read_metrics(folder / "metrics.json")
    try:
        overrides = override_values(yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text()) or [])
    except (OSError, yaml.YAMLError, TypeError) as err:  # one damaged job must not hide the others
        overrides, problem = {}, problem or f".hydra/overrides.yaml unreadable: {err}"
    return Job(folder, overrides, metrics, _job_num(folder), problem)


def override_values(items: list[str]) -> dict[str, str]:
    """["model=lenet5", "+x=1", "~y"] -> {"model": "lenet5", "x": "1", "y": ""}: Hydra's prefixes dropped."""
    pairs = (str(item).partition("=") for item in items)
    return {key.lstrip("+~"): value for key, _, value in pairs}


def _read_metrics(path: Path) -> tuple[dict[str, Any], str]:
    if not path.is_file():
        return {}, NO_METRICS
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {}, f"metrics.json unreadable: {err}"
    return (metrics, "") if isinstance(metrics, dict) else ({}, "metrics.json is not a JSON object")


def _job_num(folder: Path) -> int | None:
    """hydra.job.num from the job's hydra.yaml; None when absent (the folder name orders it then)."""
    try:
        num = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return num if isinstance(num, int) else None


def _launch_order(job: Job) -> tuple[float, str]:
    return (math.inf if job.num is None else job.num, str(job.folder))


def _split_overrides(jobs: list[Job]) -> tuple[list[str], dict[str, str]]:
    """(keys whose value differs between jobs, {key: value} shared by all): a key some jobs lack is swept."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    swept = [k for k in keys if len({job.overrides.get(k, AT_DEFAULT) for job in jobs}) > 1]
    common = {k: jobs[0].overrides[k] for k in keys if k not in swept}
    return swept, common
