"""Before a sweep launches its jobs: read each job's config as its job will, and start none when every one of
them would stop on a mistake (a bad key they share, data they all lack).

Each job's config is composed exactly as the launcher composes it (Hydra's own `load_sweep_config` on the
sweep's config and the job's overrides), read into a Run by the same reader the job uses, and its model's shapes
planned (nothing is allocated), so the paragraph is the one each job would have printed. Reading stops at the first job that reads: from then on the sweep runs
as before, and a job with a mistake of its own fails alone, recorded in the report. An Optuna sweep's trials
are drawn while it runs: its preflight reads the config without the drawn parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from cnnexp.config.invocation import as_typed
from cnnexp.errors import ConfigError, UserFacingError

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def check_sweep(config: DictConfig) -> None:
    """Raise a ConfigError, before any job starts, when every job of the sweep `config` would stop on a mistake."""
    failures: list[tuple[list[str], str]] = []
    jobs = list(sweep_jobs(config))
    for job in jobs:
        problem = job_problem(config, job)
        if problem is None:
            return  # one job reads: launch them all (a job's own mistake fails that job alone)
        failures.append((job, problem))
    if not failures:
        return
    reasons = {reason for _, reason in failures}
    if len(reasons) == 1:
        raise ConfigError(
            f"every job of this sweep ({len(jobs)}) would stop on the same mistake, so none was started: {reasons.pop()}"
        )
    shared = set.intersection(*(set(job) for job in jobs))
    first, reason = failures[0]
    swept = " ".join(o for o in first if o not in shared)  # what tells this job from the others
    raise ConfigError(
        f"every job of this sweep ({len(jobs)}) would stop on a mistake, so none was started; the first ({swept}): "
        f"{reason}"
    )


def sweep_jobs(config: DictConfig) -> Iterator[list[str]]:
    """Each job's overrides, as the basic sweeper expands them (its params, then the command line's)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    overrides = as_typed(config.hydra.overrides.task)
    if str(config.hydra.sweeper.get("_target_", BASIC)) != BASIC:
        yield [o for o in overrides if not _is_sweep(o)]  # Optuna draws its own: the fixed part is checked
        return
    params = config.hydra.sweeper.get("params") or {}
    given = [f"{key}={value}" for key, value in params.items()]  # as the basic sweeper joins them
    parsed = OverridesParser.create().parse_overrides([*given, *overrides])
    for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None):
        yield from (list(job) for job in batch)


def _is_sweep(text: str) -> bool:
    return OverridesParser.create().parse_overrides([text])[0].is_sweep_override()


def job_problem(config: DictConfig, job: list[str]) -> str | None:
    """The paragraph the job would stop on, or None when its config reads."""
    from cnnexp.config.explain import explain  # the door's own words for Hydra's errors
    from cnnexp.model.summary import summarize
    from cnnexp.run import read_run

    loader = GlobalHydra.instance().config_loader()
    try:
        # output_dir: Hydra names the job's folder only when the job runs; reading a run writes nothing there.
        composed = loader.load_sweep_config(config, [*job, "output_dir=preflight"])
        with open_dict(composed):
            del composed["hydra"]  # as Hydra hands a job its config
        summarize(read_run(composed).model)  # every layer's shape, as each job checks before it builds
    except (UserFacingError, HydraException, OmegaConfBaseException) as err:
        explained = explain(err)
        return explained[0] if explained is not None else f"{type(err).__name__}: {err}"
    return None
