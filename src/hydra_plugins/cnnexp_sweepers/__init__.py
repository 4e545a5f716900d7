"""Hydra takes sweepers only from classes defined in the `hydra_plugins` namespace; cnnexp's are written in
cnnexp.sweep and named here."""

from cnnexp.sweep.optuna import OptunaSweeper as _OptunaSweeper


class OptunaSweeper(_OptunaSweeper):
    """cnnexp.sweep.optuna.OptunaSweeper, under the name Hydra's plugin registry accepts."""
