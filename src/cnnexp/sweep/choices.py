"""Optuna samplers and pruners by name: `hydra.sweeper.sampler=random`, `hydra.sweeper.pruner=median`, each
with its constructor's arguments in `sampler_args` / `pruner_args` (Optuna's own names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna

from cnnexp.config.registry import Registry
from cnnexp.errors import ConfigError

SAMPLERS: Registry[Callable[..., optuna.samplers.BaseSampler]] = Registry("Optuna sampler")
PRUNERS: Registry[Callable[..., optuna.pruners.BasePruner]] = Registry("Optuna pruner")

SAMPLERS.add("tpe", optuna.samplers.TPESampler)
SAMPLERS.add("random", optuna.samplers.RandomSampler)
SAMPLERS.add("cmaes", optuna.samplers.CmaEsSampler)  # needs the `cmaes` package
SAMPLERS.add("gp", optuna.samplers.GPSampler)  # needs scipy
SAMPLERS.add("qmc", optuna.samplers.QMCSampler)  # needs scipy

PRUNERS.add("none", optuna.pruners.NopPruner)
PRUNERS.add("median", optuna.pruners.MedianPruner)
PRUNERS.add("percentile", optuna.pruners.PercentilePruner)  # pruner_args: {percentile: 25.0}
PRUNERS.add("hyperband", optuna.pruners.HyperbandPruner)
PRUNERS.add("successive_halving", optuna.pruners.SuccessiveHalvingPruner)
PRUNERS.add("threshold", optuna.pruners.ThresholdPruner)  # pruner_args: {lower: 0.2}


def make_sampler(name: str, args: Mapping[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    """The sampler `name`, seeded with `seed` (the sweeper derives it: see OptunaSweeper._study)."""
    return _build(SAMPLERS, name, "hydra.sweeper.sampler", {"seed": seed, **args})


def make_pruner(name: str, args: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    return _build(PRUNERS, name, "hydra.sweeper.pruner", dict(args))


def _build(registry: Registry[Callable[..., Any]], name: str, key: str, args: dict[str, Any]) -> Any:
    make = registry.get(str(name), key)
    try:
        return make(**args)
    except ImportError as err:
        raise ConfigError(
            f"{key}={name} needs a package that is not installed ({err}); install it or choose another."
        ) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}={name}: Optuna refused the arguments {args}: {err}.") from None
