"""A checkpoint against the run that uses it.

task=test | predict | export: the run comes from the checkpoint's record (model, data, loss, optimizer as
trained), with the user's overrides on top: `data=mnist` tests on another set, `data.batch_size=512` or
`data.root=/elsewhere` change that key of the recorded data. An override that would change the recorded model is
an error naming the key. Trainer, callbacks, logger, kernels and the top-level options are this invocation's.

Resuming (task=train ckpt_path=...) is checked in checkpoint/resume.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cnnexp.checkpoint.load import Checkpoint, read_checkpoint
from cnnexp.checkpoint.overrides import Given, parse_overrides
from cnnexp.checkpoint.plain import ABSENT, assign, fmt_value, lookup
from cnnexp.checkpoint.record import DataFacts, Record
from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError
from cnnexp.model.summary import summarize
from cnnexp.run import Run
from cnnexp.train.targets import named_targets

FROM_RECORD = ("model", "data", "optimizer", "scheduler", "loss")  # the trained run's; the rest is this run's


def checkpoint_for(run: Run, task: str) -> tuple[Run, Checkpoint]:
    """ckpt_path read for task=test|predict|export, and the run it records with this command's overrides on top.

    A Lightning checkpoint without a record (older cnnexp) keeps `run` as composed, for task=test only."""
    if run.options.ckpt_path is None:
        raise ConfigError(
            f"task={task} needs ckpt_path=PATH (a .ckpt file from a run's checkpoints/ folder, e.g. "
            f"outputs/runs/<run>/checkpoints/last.ckpt)."
        )
    for key, value in (("init_from", run.options.init_from), ("freeze", run.options.freeze)):
        if value:
            raise ConfigError(
                f"{key}= is for task=train (starting a new run); task={task} takes its weights from ckpt_path: drop {key}."
            )
    ckpt = read_checkpoint(run.options.ckpt_path, vouched=named_targets(run.to_dict()))
    if task == "test" and ckpt.lightning and ckpt.record is None:
        return run, ckpt
    out = checkpoint_run(run, ckpt.require_record(f"task={task}"), run.invocation.overrides)
    check_size(out, ckpt)
    return out, ckpt


def check_size(run: Run, ckpt: Checkpoint) -> None:
    """The network the record describes holds no more parameters than the file holds numbers: an edited record
    (conv1 with a billion filters) is refused before anything is allocated, not answered by the out-of-memory killer."""
    planned = summarize(run.model).params
    held = sum(t.numel() for t in ckpt.weights.values())
    if planned > held:
        raise ConfigError(
            f"{ckpt.where}: its record describes a network of {planned:,} parameters ({run.model.name}), but the file "
            f"holds {held:,} numbers: the record and its weights disagree (was the file edited?). Nothing was built; "
            f"use the checkpoint as cnnexp wrote it."
        )


def checkpoint_run(run: Run, record: Record, overrides: Sequence[str]) -> Run:
    """The run to test, predict or export with: the checkpoint's, with the user's `overrides` where they fit."""
    given = parse_overrides(overrides)
    _refuse_model_changes(run, record, [g for g in given if g.group == "model"])
    current, recorded = run.to_dict(), record.run.to_dict()
    merged = {**current, "model": recorded["model"]}
    for group in FROM_RECORD[1:]:
        merged[group] = _section(recorded[group], current[group], [g for g in given if g.group == group])
    # The record's classes were checked when the file was read; the rest are this command's own (vouched).
    out = Run.from_dict(merged, f"ckpt_path={run.options.ckpt_path}", vouched=named_targets(current))
    _check_classes(out, record)
    return replace(out, data=_normalised(out.data, record.data), invocation=run.invocation)


def _refuse_model_changes(run: Run, record: Record, given: list[Given]) -> None:
    recorded, current = record.run.model.to_dict(), run.model.to_dict()
    for g in given:
        # A key the record spells otherwise (F for kernel_size) is compared at the layer that holds it.
        path = g.path if g.path else ("name",)
        while path and (lookup(recorded, path) is ABSENT or lookup(current, path) is ABSENT):
            path = path[:-1]
        theirs, ours = lookup(recorded, path), lookup(current, path)
        if theirs != ours:
            key = ".".join(("model", *path)) if g.path else "model"  # model=NAME chose another model
            raise ConfigError(
                f"{g.text} contradicts the checkpoint's model: it was trained with {key}={fmt_value(theirs)}, and this "
                f"override makes it {fmt_value(ours)}. Testing, predicting and exporting rebuild the model from the "
                f"checkpoint ({record.run.model.name}); drop the override, or train a new model from these weights "
                f"with init_from=<the checkpoint>."
            )


def _section(recorded: Any, current: Any, given: list[Given]) -> Any:
    """The recorded group, or this run's where the user chose another option of it (`data=mnist`); keys the user
    set (`data.batch_size=512`) take this run's value."""
    if not given:
        return recorded
    if any(not g.path for g in given) or not isinstance(recorded, Mapping):
        return current
    section = copy.deepcopy(dict(recorded))
    for g in given:
        assign(section, g.path, lookup(current, g.path))
    return section


def _check_classes(run: Run, record: Record) -> None:
    classes, outputs = run.data.num_classes, run.model.num_classes
    if classes is not None and classes != outputs:
        names = ", ".join(record.data.classes[:5]) + (", ..." if len(record.data.classes) > 5 else "")
        raise ConfigError(
            f"data={run.data.name} has {classes} classes but the checkpoint's network has {outputs} outputs (trained on "
            f"data={record.data.name}: {names}); use data with the same {outputs} classes, in the same order."
        )


def _normalised(data: DataSpec, facts: DataFacts) -> DataSpec:
    """The data with the mean/std the network was trained with, unless the user set them or the channels differ."""
    if data.channels != len(facts.mean):
        return data
    return replace(data, mean=data.mean or facts.mean, std=data.std or facts.std)
