"""The overrides the user typed, as Hydra read them: how a task that starts from a checkpoint tells what the
user asked for from what the config's defaults say.

In a run started by `python -m cnnexp` they are Hydra's own list (`HydraConfig.get().overrides.task`, also in
.hydra/overrides.yaml); in a multirun job, that job's. Code that composes a config itself (tests, notebooks)
has no Hydra run: it passes the overrides it composed with, or gets none (the checkpoint's run as recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf


@dataclass(frozen=True)
class Given:
    """One override: `model.activation=tanh` (a key), `model=alexnet` (a group's option) or `~model.layers.x`."""

    key: str  # model.activation; for an option, the group: model
    text: str  # as typed
    value: Any  # as Hydra parsed it (None for a deletion)
    deleted: bool = False

    @property
    def group(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def path(self) -> tuple[str, ...]:
        """The key inside its group: ("activation",) for model.activation; () for the group's option."""
        return tuple(self.key.split(".")[1:])


def given_overrides() -> list[str]:
    """The command line's overrides of this Hydra run; [] outside one."""
    if not HydraConfig.initialized():
        return []
    return as_typed(HydraConfig.get().overrides.task)


def as_typed(overrides: Any) -> list[str]:
    """Hydra's list of overrides (a ListConfig) as typed: iterating it would resolve an interpolation inside an
    override (`model.name=${data.name}`)."""
    texts = OmegaConf.to_container(overrides, resolve=False)
    assert isinstance(texts, list), "Hydra keeps the overrides as a list"
    return [str(text) for text in texts]


def parse_overrides(texts: Sequence[str]) -> list[Given]:
    """Each override with its key, by Hydra's own parser (the syntax was checked when the config was composed)."""
    parsed = OverridesParser.create().parse_overrides(list(texts))
    return [Given(o.key_or_group, str(o.input_line), None if o.is_delete() else o.value(), o.is_delete()) for o in parsed]
