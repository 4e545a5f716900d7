"""Reading a checkpoint file: weights only, which kind it is, its run record, and its network's weights.

Two kinds load: a Lightning checkpoint (what cnnexp writes: `state_dict`, optimizer state, loops, and the run
record under "cnnexp"), and a plain state dict (`torch.save(net.state_dict())`: weights and nothing else),
which only init_from= accepts. A file that needs code to unpickle is refused, never run.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnexp.checkpoint.record import KEY, Record
from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build
from cnnexp.model.spec import ModelSpec
from cnnexp.train.targets import shown

NET = "net."  # the LightningModule holds the network as `net`: its weights are net.conv1.weight, ...
SHOWN = 3  # names listed in one message


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    key: str  # the setting that named the file: ckpt_path or init_from
    content: Mapping[str, Any]
    record: Record | None

    @property
    def where(self) -> str:
        return f"{self.key}={self.path}"

    @property
    def lightning(self) -> bool:
        """A checkpoint of a run (weights, optimizer state, progress), not a bare state dict."""
        return isinstance(self.content.get("state_dict"), Mapping)

    @property
    def weights(self) -> dict[str, Tensor]:
        """The network's tensors by module path (conv1.weight), without the LightningModule's `net.` prefix."""
        state = self.content["state_dict"] if self.lightning else self.content
        if any(name.startswith(NET) for name in state):
            return {name[len(NET) :]: t for name, t in state.items() if name.startswith(NET)}
        return dict(state)

    def shapes_only(self) -> Checkpoint:
        """The same checkpoint with its network's tensors as shapes (meta tensors) and its optimizer settings: all the
        resume checks need, without holding weights and optimizer state in memory while Lightning loads them again."""
        state = {name: torch.empty(t.shape, device="meta") for name, t in self.content["state_dict"].items()}
        groups = [{"param_groups": s.get("param_groups", [])} for s in self.content.get("optimizer_states") or []]
        return replace(self, content={"state_dict": state, "optimizer_states": groups})

    def plain_state_dict_error(self, task: str, why: str) -> ConfigError:
        return ConfigError(
            f"{self.where} is a plain state dict (network weights as torch.save(model.state_dict()) writes them), not "
            f"a checkpoint of a run: {why}, so {task} cannot use it. To start a new training run from these weights, "
            f"pass init_from={self.path}; to {task}, give a .ckpt file from a run's checkpoints/ folder."
        )

    def require_record(self, task: str) -> Record:
        if not self.lightning:
            raise self.plain_state_dict_error(task, "it has no record of the model and data it belongs to")
        if self.record is None:
            raise ConfigError(
                f"{self.where} holds no run record (it was written before cnnexp recorded runs in checkpoints, or by "
                f"another program), so {task} does not know its model, classes or normalisation. Test it with the "
                f"overrides it was trained with (task=test ckpt_path=... model=... data=...), or retrain to get a "
                f"checkpoint that carries its run."
            )
        return self.record

    def load_into(self, net: nn.Module, fix: str) -> None:
        """Every tensor of `net` from the checkpoint, names and shapes checked; a ConfigError says what differs."""
        problems = weight_mismatches(net.state_dict(), self.weights)
        if problems:
            raise ConfigError(f"{self.where} does not fit this network: {problems}; {fix}.")
        net.load_state_dict(self.weights)

    def network(self, spec: ModelSpec) -> nn.Module:
        """The network the record describes, with the checkpoint's weights, in eval mode."""
        net = build(spec)
        self.load_into(net, "the checkpoint's record and its weights disagree: was the file edited?")
        return net.eval()


def weight_mismatches(ours: Mapping[str, Tensor], theirs: Mapping[str, Tensor]) -> str:
    """'' when every name and shape agree; else the first few differences, in words."""
    missing = [name for name in ours if name not in theirs]
    unexpected = [name for name in theirs if name not in ours]
    shapes = [
        f"{name} is {fmt_shape(tuple(theirs[name].shape))} in the checkpoint, {fmt_shape(tuple(t.shape))} here"
        for name, t in ours.items() if name in theirs and tuple(theirs[name].shape) != tuple(t.shape)
    ]  # fmt: skip
    parts = [
        *([f"{len(shapes)} tensor(s) of other shapes ({'; '.join(shapes[:SHOWN])})"] if shapes else []),
        *([f"{len(missing)} missing ({', '.join(missing[:SHOWN])})"] if missing else []),
        *([f"{len(unexpected)} not in this network ({', '.join(unexpected[:SHOWN])})"] if unexpected else []),
    ]
    return "; ".join(parts)


def read_checkpoint(path: Path, key: str = "ckpt_path", vouched: Mapping[str, str] | None = None) -> Checkpoint:
    """The file at `path` (named by the setting `key`), read with weights only, its record checked as data: the
    classes it names must be known to cnnexp, or `vouched` by this command (its own classes, by key)."""
    if not path.is_file():
        raise ConfigError(
            f"{key}={path}: no such file; give the path of a .ckpt file, e.g. outputs/runs/<run>/checkpoints/last.ckpt."
        )
    content = _load(path, key)
    if not isinstance(content, Mapping):
        kind = type(content).__name__
        raise ConfigError(f"{key}={path}: not a checkpoint (it holds a {kind}, not a mapping of tensors).")
    if not isinstance(content.get("state_dict"), Mapping) and not _all_tensors(content):
        keys = ", ".join(sorted(str(k) for k in content)[:8])
        raise ConfigError(
            f"{key}={path}: neither a Lightning checkpoint (no 'state_dict') nor a state dict of tensors (its keys: "
            f"{keys}); give a .ckpt file from a run's checkpoints/ folder."
        )
    where = f"{key}={path}"
    if isinstance(content.get("state_dict"), Mapping):
        _check_tensors(content["state_dict"], where)
    record = Record.from_dict(content[KEY], where, vouched) if isinstance(content.get(KEY), Mapping) else None
    return Checkpoint(path, key, content, record)


def recorded_model(path: Path) -> str | None:
    """The model name in the record of the checkpoint at `path`, read as data with weights only (its tensors mapped,
    not read); None when the file is no readable checkpoint with a record: the task that reads it says why."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    # Any unreadable file (missing, foreign, pickled code, the legacy format mmap cannot map): None, said later.
    except Exception:  # noqa: BLE001
        return None
    for key in (KEY, "run", "model", "name"):
        content = content.get(key) if isinstance(content, Mapping) else None
    return content if isinstance(content, str) else None


def _check_tensors(state: Mapping[str, Any], where: str) -> None:
    """A Lightning checkpoint's state_dict holds tensors by name, and nothing else."""
    odd = next(
        ((name, value) for name, value in state.items() if not isinstance(name, str) or not isinstance(value, Tensor)),
        None,
    )
    if odd is not None:
        raise ConfigError(
            f"{where}: its state_dict holds {shown(odd[0])} as a {type(odd[1]).__name__}, not a tensor: the file was "
            f"edited or damaged. Use the checkpoint as cnnexp wrote it (its run folder's checkpoints/)."
        )


def _all_tensors(content: Mapping[str, Any]) -> bool:
    return bool(content) and all(isinstance(value, Tensor) for value in content.values())


def _load(path: Path, key: str) -> Any:
    """torch.load with weights only: a file that holds pickled objects (code) is refused, never run."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch names a refused class "GLOBAL module.name"; without it the bytes are no checkpoint at all.
        found = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), "")
        if not found:
            raise ConfigError(f"{key}={path}: not a readable checkpoint; is the file complete?") from None
        raise ConfigError(
            f"{key}={path}: refused: it holds pickled objects that only code could rebuild ({found}). "
            f"cnnexp loads checkpoints with weights only; use a checkpoint written by cnnexp."
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ConfigError(f"{key}={path}: not a readable checkpoint ({err}); is the file complete?") from None
    except (
        Exception
    ) as err:  # bytes of another kind (a text file) can break the unpickler anywhere: still no checkpoint
        why = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise ConfigError(
            f"{key}={path}: not a checkpoint ({why} while reading it); give a .ckpt file from a run's checkpoints/ folder."
        ) from None
