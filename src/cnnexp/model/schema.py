"""The keys of `model` and their defaults, written once: Hydra's structured-config schema of conf/model (a
misspelled top-level model key fails at compose time), and the keys and defaults model/spec.py's reader takes.

Every other cnnexp group (data, loss, kernels, the run's options) is a frozen class whose fields carry their
readers (config/groups.py `setting`), read by `read_group`, its Hydra schema derived by `schema_of`. The model is
the one group whose schema is written by hand, because its reader cannot be a `read_group`: its layers and
blocks are read in the context of its activation, blocks and params (model.params substituted, blocks expanded),
its typed value (ModelSpec) has another shape than its keys (an input shape, a parsed stack), and its messages
(`model.name must be a name, got None.`, not `read_group`'s `is missing`) and the order it checks keys in are
its own. So this module plays the part of `schema_of(cls)` for `model`, and MODEL_KEYS, INPUT_KEYS and
`default_of` below the part of `read_group`'s field list: parse_model reads no key that is not declared here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING


@dataclass
class InputConf:
    channels: int = MISSING
    height: int = MISSING
    width: int = MISSING


@dataclass
class ModelConf:
    name: str = MISSING
    input: InputConf = field(default_factory=InputConf)
    num_classes: Optional[int] = MISSING  # null only until an image folder's classes are counted
    activation: str = "relu"
    init: str = "auto"
    strict: bool = False
    # Numbers every block and layer may use as $name, in expressions too: a width multiplier (model/expressions.py).
    params: dict[str, Any] = field(default_factory=dict)
    # Blocks and layers differ in their fields; model/blocks.py and model/layers check each one.
    blocks: dict[str, Any] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=dict)


MODEL_KEYS = tuple(f.name for f in dataclasses.fields(ModelConf))
INPUT_KEYS = tuple(f.name for f in dataclasses.fields(InputConf))


def default_of(key: str) -> Any:
    """ModelConf's default for `key`; None where it has none (MISSING) or builds one (input, layers)."""
    default = next(f.default for f in dataclasses.fields(ModelConf) if f.name == key)
    return None if default in (MISSING, dataclasses.MISSING) else default
