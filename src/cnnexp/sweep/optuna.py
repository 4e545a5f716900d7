"""A Hydra sweeper that drives a current Optuna: `hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml).

Why not hydra-optuna-sweeper: its last release (1.3.0) pins optuna<3, and optuna 2.10's SQLite storage fails
under SQLAlchemy 2 (an AssertionError on a fresh study), which the current alembic requires. This sweeper is
small, uses Optuna 5's ask/tell interface, and keeps the study in a SQLite file in the sweep folder, so that
running the same command with the same hydra.sweep.dir resumes a stopped search.

Search spaces use Hydra's override grammar: `choice(a, b)` or `a,b` (categorical), `range(1, 9)` (integers),
`interval(0.0, 0.5)` (uniform), `tag(log, interval(1e-4, 1e-1))` (log-uniform).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from cnnexp.errors import ConfigError

if TYPE_CHECKING:
    import optuna  # imported where used: Hydra imports every sweeper plugin at start-up, for --help too

log = logging.getLogger(__name__)


def _done() -> tuple[Any, ...]:
    import optuna

    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED)


class OptunaSweeper(Sweeper):
    def __init__(
        self, direction: str = "maximize", n_trials: int = 20, n_jobs: int = 1, seed: int = 0,
        study_name: str = "cnnexp", storage: str | None = None, params: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.direction, self.n_trials, self.n_jobs, self.seed = direction, n_trials, n_jobs, seed
        self.study_name, self.storage, self.params = study_name, storage, dict(params or {})
        self.launcher: Launcher | None = None
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        fixed = [f"{o.get_key_element()}={o.get_value_element_as_str()}" for o in overrides if not o.is_sweep_override()]
        space = [o for o in overrides if o.is_sweep_override()]
        study = self._study(sweep_dir)
        done = len(study.get_trials(deepcopy=False, states=_done()))
        log.info(f"Optuna study {self.study_name} in {sweep_dir}: {done} of {self.n_trials} trials done")
        while done < self.n_trials:
            batch = [study.ask() for _ in range(min(self.n_jobs, self.n_trials - done))]
            jobs = [[*fixed, *_suggest(trial, space)] for trial in batch]
            self.validate_batch_is_legal(jobs)
            for trial, result in zip(batch, self.launcher.launch(jobs, initial_job_idx=done)):
                study.tell(trial, *_outcome(result))
            done += len(batch)
        _save_best(study, sweep_dir)

    def _study(self, sweep_dir: Path) -> optuna.Study:
        import optuna

        storage = self.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        sampler = optuna.samplers.TPESampler(seed=self.seed)
        return optuna.create_study(
            study_name=self.study_name, storage=storage, sampler=sampler, direction=self.direction, load_if_exists=True
        )


def _suggest(trial: optuna.Trial, space: Sequence[Override]) -> list[str]:
    """One override per search dimension, sampled by the trial."""
    chosen = []
    for override in space:
        key, value = override.get_key_element(), override.value()
        if isinstance(value, ChoiceSweep):
            pick = trial.suggest_categorical(key, [_plain(v) for v in value.list])
        elif isinstance(value, RangeSweep):
            pick = trial.suggest_categorical(key, [_plain(v) for v in override.sweep_iterator()])
        elif isinstance(value, IntervalSweep):
            log_scale = "log" in value.tags
            if isinstance(value.start, int) and isinstance(value.end, int) and not log_scale:
                pick = trial.suggest_int(key, int(value.start), int(value.end))
            else:
                pick = trial.suggest_float(key, float(value.start), float(value.end), log=log_scale)
        else:
            raise ConfigError(f"hydra.sweeper.params.{key}: use choice(...), range(...) or interval(...).")
        chosen.append(f"{key}={pick}")
    return chosen


def _plain(value: Any) -> Any:
    """Optuna stores categorical choices as None, bool, int, float or str."""
    return value if isinstance(value, (type(None), bool, int, float, str)) else str(value)


def _outcome(result: Any) -> tuple[Any, ...]:
    import optuna

    try:
        value = result.return_value
    except Exception as err:  # the job raised: a failed trial, the search goes on
        log.warning(f"trial failed: {err}")
        return (None, optuna.trial.TrialState.FAIL)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (None, optuna.trial.TrialState.FAIL)
    return (float(value),)


def _save_best(study: optuna.Study, sweep_dir: Path) -> None:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        log.warning("no trial completed: no best parameters to save")
        return
    best = {"best_value": study.best_value, "best_params": study.best_params, "trials": len(study.trials)}
    OmegaConf.save(OmegaConf.create(best), sweep_dir / "optimization_results.yaml")
    log.info(f"best {study.direction.name.lower()} value {study.best_value:.4f} with {study.best_params}")
