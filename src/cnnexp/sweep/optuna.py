"""A Hydra sweeper that drives a current Optuna: `hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml).

Why not hydra-optuna-sweeper: its last release (1.3.0) pins optuna<3, and optuna 2.10's SQLite storage fails
under SQLAlchemy 2 (an AssertionError on a fresh study), which the current alembic requires. This sweeper is
small, uses Optuna's ask/tell interface, and keeps the study in a SQLite file in the sweep folder, so that
running the same command with the same hydra.sweep.dir resumes a stopped search: new trials, never the old
ones again (the sampler's seed moves on with the trials already in the study), and a trial left running by a
stopped sweep is marked failed. Each trial runs in the job folder of its own number (trial_<number> in the
presets), so no two trials share a folder.

Search spaces use Hydra's override grammar: `choice(a, b)` or `a,b` (categorical), `range(1, 9)` (integers),
`interval(0.0, 0.5)` (uniform), `tag(log, interval(1e-4, 1e-1))` (log-uniform).
"""

from __future__ import annotations

import json
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
from cnnexp.rundir.names import override

if TYPE_CHECKING:
    import optuna  # imported where used: Hydra imports every sweeper plugin at start-up, for --help too

log = logging.getLogger(__name__)


def _states() -> Any:
    """Optuna's TrialState, imported when a search runs (optuna takes a second or more to import)."""
    import optuna

    return optuna.trial.TrialState


class OptunaSweeper(Sweeper):
    def __init__(
        self, direction: str = "maximize", n_trials: int = 20, n_jobs: int = 1, seed: int = 0,
        study_name: str = "cnnexp", storage: str | None = None, params: Mapping[str, str] | None = None,
        sampler: str = "tpe", sampler_args: Mapping[str, Any] | None = None, pruner: str = "none",
        pruner_args: Mapping[str, Any] | None = None, prune_on: str = "val/acc",
    ) -> None:  # fmt: skip
        super().__init__()
        self.direction, self.n_trials, self.n_jobs, self.seed = direction, n_trials, n_jobs, seed
        self.study_name, self.storage, self.params = study_name, storage, dict(params or {})
        self.sampler, self.sampler_args = sampler, dict(sampler_args or {})
        self.pruner, self.pruner_args, self.prune_on = pruner, dict(pruner_args or {}), prune_on
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
        fixed = [
            f"{o.get_key_element()}={o.get_value_element_as_str()}" for o in overrides if not o.is_sweep_override()
        ]
        space = [o for o in overrides if o.is_sweep_override()]
        storage = self.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        study = self._study(storage, own=self.storage is None)
        state = _states()
        done = len(study.get_trials(deepcopy=False, states=(state.COMPLETE, state.FAIL, state.PRUNED)))
        log.info(f"Optuna study {self.study_name} in {sweep_dir}: {done} of {self.n_trials} trials done")
        while done < self.n_trials:
            batch = [study.ask() for _ in range(min(self.n_jobs, self.n_trials - done))]
            jobs = [[*fixed, *_suggest(trial, space), *self._trial_env(storage, trial)] for trial in batch]
            self.validate_batch_is_legal(jobs)
            self._run(study, batch, jobs)
            done += len(batch)
        _save_best(study, sweep_dir)

    def _study(self, storage: str, own: bool) -> optuna.Study:
        import optuna
        from sqlalchemy.exc import SQLAlchemyError

        from cnnexp.sweep.choices import make_pruner, make_sampler

        state = optuna.trial.TrialState
        try:
            study = optuna.create_study(
                study_name=self.study_name, storage=storage, direction=self.direction, load_if_exists=True,  # type: ignore[arg-type]  # optuna names a bad one
                pruner=make_pruner(self.pruner, self.pruner_args),
            )  # fmt: skip
        except SQLAlchemyError as err:
            raise ConfigError(
                f"hydra.sweeper.storage: {storage} is not a readable Optuna study ({str(err).splitlines()[0]}); move "
                f"the file away to start a new study there, or choose another hydra.sweep.dir."
            ) from None
        if own:  # the sweep folder's own study: this sweep holds the folder, so no trial can still be running
            for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
                log.warning(f"trial {trial.number} was left running by a stopped sweep: marked failed")
                study.tell(trial.number, state=state.FAIL)
        # A seed of its own per resumption: the same seed again would replay the first trials' parameters.
        study.sampler = make_sampler(self.sampler, self.sampler_args, self.seed + len(study.trials))
        return study

    def _trial_env(self, storage: str, trial: optuna.Trial) -> list[str]:
        """Where the job finds its trial, to report to it and be pruned (sweep/pruning.py)."""
        from cnnexp.sweep import pruning as pr  # here: it imports Lightning, which Hydra's start-up must not

        env = {
            pr.ENV_STORAGE: storage, pr.ENV_STUDY: self.study_name, pr.ENV_TRIAL: trial._trial_id,
            pr.ENV_PRUNER: self.pruner, pr.ENV_PRUNER_ARGS: json.dumps(self.pruner_args), pr.ENV_MONITOR: self.prune_on,
        }  # fmt: skip
        return [override(f"+hydra.job.env_set.{key}", value) for key, value in env.items()]

    def _run(self, study: optuna.Study, batch: list[optuna.Trial], jobs: list[list[str]]) -> None:
        """Launch one batch (the job number is the trial number: its folder is its own); a batch that is
        stopped (SIGTERM, Ctrl-C) leaves its trials failed, never running."""
        state = _states()
        told: set[int] = set()
        try:
            for trial, result in zip(batch, self.launcher.launch(jobs, initial_job_idx=batch[0].number)):  # type: ignore[union-attr]
                study.tell(trial, *_outcome(result))
                told.add(trial.number)
        finally:
            for trial in batch:
                if trial.number not in told:
                    study.tell(trial, state=state.FAIL)


def _suggest(trial: optuna.Trial, space: Sequence[Override]) -> list[str]:
    """One override per search dimension, sampled by the trial."""
    chosen = []
    for override_ in space:
        key, value = override_.get_key_element(), override_.value()
        if isinstance(value, ChoiceSweep):
            pick = trial.suggest_categorical(key, [_optuna_choice(v) for v in value.list])
        elif isinstance(value, RangeSweep):
            pick = trial.suggest_categorical(key, [_optuna_choice(v) for v in override_.sweep_iterator()])
        elif isinstance(value, IntervalSweep):
            log_scale = "log" in value.tags
            if isinstance(value.start, int) and isinstance(value.end, int) and not log_scale:
                pick = trial.suggest_int(key, int(value.start), int(value.end))
            else:
                assert value.start is not None and value.end is not None  # Hydra's grammar: interval(start, end)
                pick = trial.suggest_float(key, float(value.start), float(value.end), log=log_scale)
        else:
            raise ConfigError(f"hydra.sweeper.params.{key}: use choice(...), range(...) or interval(...).")
        chosen.append(f"{key}={pick}")
    return chosen


def _optuna_choice(value: Any) -> Any:
    """Optuna stores categorical choices as None, bool, int, float or str."""
    return value if isinstance(value, (type(None), bool, int, float, str)) else str(value)


def _outcome(result: Any) -> tuple[Any, ...]:
    """(value,) of a finished trial, or (None, state) of a failed or pruned one (its metrics.json says which)."""
    state = _states()
    try:
        value = result.return_value
    except Exception as err:  # the job raised: a failed trial, the search goes on
        log.warning(f"trial failed: {err}")
        return (None, state.FAIL)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (None, state.PRUNED if _status(result) == "pruned" else state.FAIL)
    return (float(value),)


def _status(result: Any) -> str:
    try:
        metrics = json.loads((Path(result.hydra_cfg.hydra.runtime.output_dir) / "metrics.json").read_text())
    except (OSError, ValueError, AttributeError):
        return ""
    return str(metrics.get("status", "")) if isinstance(metrics, dict) else ""


def _save_best(study: optuna.Study, sweep_dir: Path) -> None:
    complete = study.get_trials(deepcopy=False, states=(_states().COMPLETE,))
    if not complete:
        log.warning("no trial completed: no best parameters to save")
        return
    best = {"best_value": study.best_value, "best_params": study.best_params, "trials": len(study.trials)}
    OmegaConf.save(OmegaConf.create(best), sweep_dir / "optimization_results.yaml")
    log.info(f"best {study.direction.name.lower()} value {study.best_value:.4f} with {study.best_params}")
