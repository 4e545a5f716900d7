"""What every checkpoint says about its run, as plain data that loads with `torch.load(..., weights_only=True)`.

The record holds the typed Run (`Run.to_dict()`: the model with every layer, the data, optimizer, ...), the
data facts known only once the data is loaded (class names, the mean/std actually used, the adaptation to the
model's input), and where the run came from (cnnexp, torch and Lightning versions, the git commit of the
source when it is a checkout, the command line). The run folder holds the same as run.json.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

import cnnexp
from cnnexp.config.groups import to_plain
from cnnexp.data.transforms import Shape, adapt_steps
from cnnexp.errors import ConfigError
from cnnexp.run import Run
from cnnexp.train.targets import UntrustedRecord, shown

KEY = "cnnexp"  # the checkpoint's top-level key that holds the record
VERSION = 1  # of the record's layout, for readers of later cnnexp versions


@dataclass(frozen=True)
class DataFacts:
    """The data as the model saw it: decoded to `shape`, scaled to 0..1, normalised, then adapted."""

    name: str
    shape: Shape  # C, H, W the images are decoded to (data.channels, height, width)
    model_input: Shape  # C, H, W the network takes
    classes: tuple[str, ...]  # output i is classes[i]
    mean: tuple[float, ...]  # per data channel, on the 0..1 scale: (x / 255 - mean) / std
    std: tuple[float, ...]

    @property
    def adapt(self) -> list[str]:
        """The steps from the normalised image to the network's input (empty when the shapes agree)."""
        return adapt_steps(self.shape, self.model_input)

    def to_dict(self) -> dict[str, Any]:
        return {**to_plain(self), "adapt": self.adapt}

    @classmethod
    def from_dict(cls, plain: Mapping[str, Any]) -> DataFacts:
        return cls(
            name=str(plain["name"]),
            shape=_shape(plain["shape"]),
            model_input=_shape(plain["model_input"]),
            classes=tuple(str(c) for c in plain["classes"]),
            mean=tuple(float(v) for v in plain["mean"]),
            std=tuple(float(v) for v in plain["std"]),
        )


@dataclass(frozen=True)
class Record:
    run: Run
    data: DataFacts
    origin: Mapping[str, Any] = field(default_factory=dict)  # versions, git commit, command line

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "run": self.run.to_dict(), "data": self.data.to_dict(), **to_plain(self.origin)}

    @classmethod
    def from_dict(cls, plain: Mapping[str, Any], where: str, vouched: Mapping[str, str] | None = None) -> Record:
        """The record as written (`where`: the setting that named its file), read as data: its layout version, the
        classes it names (known to cnnexp, or `vouched` by this command), every run key checked again by the
        config's own readers, and its class names against the network's outputs."""
        origin = {k: v for k, v in plain.items() if k not in ("version", "run", "data")}
        versions = origin.get("versions")
        written = versions.get("cnnexp", "?") if isinstance(versions, Mapping) else "?"
        _check_version(plain.get("version", VERSION), where, written)
        try:
            record = cls(Run.from_dict(plain["run"], where, vouched), DataFacts.from_dict(plain["data"]), origin)
        except UntrustedRecord:
            raise  # says what the file names, and that nothing was imported
        except ConfigError as err:
            raise ConfigError(
                f"{where}: the run recorded in this checkpoint (written by cnnexp {written}) does not read with "
                f"cnnexp {cnnexp.__version__}: {err}"
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            why = f"{type(err).__name__}: {err}"
            raise ConfigError(f"{where}: the run record in this checkpoint is incomplete ({why}).") from None
        record.check(where)
        return record

    def check(self, where: str) -> None:
        """The record's data facts against its own network: what test, predict and export index by."""
        facts, outputs = self.data, self.run.model.num_classes
        problem = ""
        if len(facts.classes) != outputs:
            named = ", ".join(shown(c) for c in facts.classes[:5]) + (", ..." if len(facts.classes) > 5 else "")
            problem = (
                f"names {len(facts.classes)} classes ({named}) for a network of {outputs} outputs (model.num_classes)"
            )
        elif not len(facts.mean) == len(facts.std) == facts.shape[0]:
            problem = (
                f"has {len(facts.mean)} mean and {len(facts.std)} std values for images of {facts.shape[0]} channel(s)"
            )
        if problem:
            raise ConfigError(
                f"{where}: its run record {problem}: cnnexp writes one class name per output and one mean and std per "
                f"channel, so the record was edited or damaged. Use the checkpoint as cnnexp wrote it (its run folder's "
                f"checkpoints/), or train the model again."
            )


def _check_version(version: Any, where: str, written: str) -> None:
    """A record of a later layout is refused (its keys may mean other things now); one that is no layout at all too."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(
            f"{where}: its run record has layout version {shown(version)}, which no cnnexp writes (this one writes "
            f"{VERSION}): the record was edited or damaged. Use the checkpoint as cnnexp wrote it, or train the model again."
        )
    if version > VERSION:
        raise ConfigError(
            f"{where}: its run record has layout version {version} (written by cnnexp {shown(written)}), newer than the "
            f"version {VERSION} this cnnexp ({cnnexp.__version__}) reads. Upgrade cnnexp (pip install -U cnnexp) to "
            f"use this checkpoint."
        )


def _shape(value: Sequence[Any]) -> Shape:
    c, h, w = (int(v) for v in value)
    return (c, h, w)


def make_record(run: Run, facts: DataFacts, overrides: Sequence[str] = ()) -> Record:
    """The record of `run` as it starts now, on this machine, from this command."""
    return Record(run, facts, {"versions": versions(), "git": git_commit(), "command": command_as_typed(overrides)})


def versions() -> dict[str, str]:
    # str(): torch.__version__ is a TorchVersion, a str subclass that weights-only loading would refuse.
    return {
        "cnnexp": str(cnnexp.__version__),
        "torch": str(torch.__version__),
        "lightning": str(pl.__version__),
        "python": platform.python_version(),
    }


def command_as_typed(overrides: Sequence[str]) -> dict[str, Any]:
    """The command line as typed (argv) and the overrides Hydra read from it."""
    return {"argv": list(sys.argv), "overrides": list(overrides)}


@functools.cache
def git_commit() -> dict[str, Any] | None:
    """The commit of the checkout cnnexp runs from, and whether it had uncommitted changes; None for an installed
    package, a missing git, or a checkout of another project that happens to hold the environment."""
    package = Path(cnnexp.__file__).resolve().parent
    top = _git(package, "rev-parse", "--show-toplevel")
    if top is None or (Path(top) / "src" / "cnnexp").resolve() != package:
        return None
    commit = _git(package, "rev-parse", "HEAD")
    changes = _git(package, "status", "--porcelain", "--untracked-files=no")
    return None if commit is None else {"commit": commit, "dirty": bool(changes)}


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
