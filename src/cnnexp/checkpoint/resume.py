"""Resuming (`task=train ckpt_path=...`) continues the checkpoint's run: what must be the checkpoint's.

The model, the data's shape and classes, the optimizer and its settings, the schedule and the frozen layers
(from the record, before anything is built); then the built network's tensors and the optimizer state (also for
checkpoints without a record). Anything else (max_epochs, batch size, devices, callbacks) may change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from cnnexp.checkpoint.load import Checkpoint, weight_mismatches
from cnnexp.checkpoint.plain import ABSENT, diff, fmt_value
from cnnexp.errors import ConfigError
from cnnexp.run import Run
from cnnexp.train.module import Classifier
from cnnexp.train.optim import OPTIMIZERS
from cnnexp.train.targets import PLAIN_NAME, known_classes, shown

# What a resumed run may not change. Not data.adapt: the shapes on both sides are compared, and with them fixed
# adapting changes nothing (null and true adapt alike; false only refuses what would need adapting).
RESUMED_DATA = ("name", "channels", "height", "width", "num_classes")
SHOWN = 3
# Lightning's keys that a resumed fit reads, with their types (a checkpoint saved with weights only lacks most).
PROGRESS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "epoch": (int, "a number"),
    "global_step": (int, "a number"),
    "pytorch-lightning_version": (str, "text"),
    "loops": (Mapping, "a mapping"),
    "optimizer_states": (list, "a list"),
    "lr_schedulers": (list, "a list"),
}
OTHER_OPTIMIZER = "optimizer._target_=<the torch.optim class it was trained with>"


def check_resume(run: Run, ckpt: Checkpoint) -> None:
    """Resuming continues the checkpoint's run: refuse what would make it another run (before anything is built)."""
    if not ckpt.lightning:
        raise ckpt.plain_state_dict_error("resume", "it has no optimizer state, epoch or step to continue from")
    _check_progress(ckpt)
    if ckpt.record is None:
        return  # an older checkpoint: its weights and optimizer state are checked once the network is built
    found = list(_resume_differences(ckpt.record.run, run))
    if not found:
        return
    listed = "; ".join(f"{key}={_shown(a)} in the checkpoint, {_shown(b)} in this run" for key, a, b in found[:SHOWN])
    more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    fix = " ".join(_override(key, theirs) for key, theirs, _ in found)
    raise ConfigError(
        f"{ckpt.where} cannot resume this run: {listed}{more}. Resuming continues the same run, so these must be "
        f"the checkpoint's: pass {fix}; or start a new run from its weights with init_from={ckpt.path} (fine-tuning, "
        f"where they may differ)."
    )


def check_resume_state(module: Classifier, ckpt: Checkpoint) -> None:
    """The built network and optimizer against the checkpoint's tensors and optimizer state (also for checkpoints
    without a record): a mismatch would otherwise be a traceback once training starts."""
    problems = weight_mismatches(module.net.state_dict(), ckpt.weights)
    if problems:
        raise ConfigError(
            f"{ckpt.where} cannot resume this run: its network does not fit this one: {problems}. Resume with the model "
            f"and input size it was trained with, or start a new run from its matching weights with init_from={ckpt.path}."
        )
    saved = (ckpt.content.get("optimizer_states") or [{}])[0].get("param_groups") or []
    if not saved:
        return
    trained = [p for p in module.parameters() if p.requires_grad]
    assert module.optimizer_factory is not None  # a run that resumes trains: assemble built its optimizer
    fresh = module.optimizer_factory(trained)
    if module.schedule is not None:
        module.schedule.make(fresh, epochs=1, steps=1)  # a schedule adds its own keys (initial_lr, ...)
    count = sum(len(group["params"]) for group in saved)
    if count != len(trained):
        raise ConfigError(
            f"{ckpt.where} cannot resume this run: its optimizer state covers {count} parameter tensors, this run trains "
            f"{len(trained)}; were other layers frozen (freeze=)? Resume with the checkpoint's freeze=, or start a new run "
            f"from its weights with init_from={ckpt.path}."
        )
    ours, theirs = set(fresh.state_dict()["param_groups"][0]), set(saved[0])
    # Keys on both sides: another optimizer. Keys on one side only: another torch version or schedule.
    if ours - theirs and theirs - ours:
        name = type(fresh).__name__
        raise ConfigError(
            f"{ckpt.where} cannot resume this run: its optimizer state has {', '.join(sorted(theirs - ours))}, which "
            f"torch.optim.{name} does not keep, and lacks {', '.join(sorted(ours - theirs))}, which it needs: the "
            f"checkpoint was trained with another optimizer. Resume with that optimizer, or start a new run from its "
            f"weights with init_from={ckpt.path}."
        )


def _resume_differences(theirs: Run, ours: Run) -> Iterator[tuple[str, Any, Any]]:
    a, b = theirs.to_dict(), ours.to_dict()
    if a["model"]["name"] != b["model"]["name"]:
        yield "model", a["model"]["name"], b["model"]["name"]  # one difference that explains all the others
    else:
        # model.init: how fresh weights were drawn, and the resumed weights replace them.
        theirs_model, ours_model = ({k: v for k, v in m.items() if k != "init"} for m in (a["model"], b["model"]))
        yield from diff(theirs_model, ours_model, "model")
    yield from diff({k: a["data"][k] for k in RESUMED_DATA}, {k: b["data"][k] for k in RESUMED_DATA}, "data")
    if a["optimizer"]["_target_"] != b["optimizer"]["_target_"]:
        yield "optimizer", a["optimizer"]["_target_"], b["optimizer"]["_target_"]
    else:
        yield from diff(a["optimizer"], b["optimizer"], "optimizer")
    if (a["scheduler"] is None) != (b["scheduler"] is None):
        yield (
            "scheduler",
            (a["scheduler"] or {}).get("_target_", "none"),
            (b["scheduler"] or {}).get("_target_", "none"),
        )
    elif a["scheduler"] is not None:
        yield from diff(a["scheduler"], b["scheduler"], "scheduler")
    if a["freeze"] != b["freeze"]:
        yield "freeze", a["freeze"], b["freeze"]


def _override(key: str, value: Any) -> str:
    """The override that sets `key` back to the checkpoint's `value` (optimizer=adam for a class). The value comes
    from a file: a class cnnexp does not know, or text that is no plain value, is described, never suggested."""
    if key == "optimizer":
        if value not in known_classes("optimizer"):
            return OTHER_OPTIMIZER
        names = [name for name, cls in OPTIMIZERS.items() if str(value).rsplit(".", 1)[-1] == cls.__name__]
        return f"optimizer={names[0]}" if names else f"optimizer._target_={value}"
    if key == "scheduler" and value == "none":
        return "scheduler=none"
    if value is ABSENT:
        return f"~{key}"
    return f"{key}={fmt_value(value)}" if _is_printable(value) else f"{key}=<the checkpoint's value>"


def _shown(value: Any) -> str:
    """A value of the checkpoint or of this run, as the message shows it (a file's text quoted, on one line)."""
    return fmt_value(value) if value is ABSENT or _is_printable(value) else shown(value)


def _is_printable(value: Any) -> bool:
    """A number, true/false/null, a name, or a list of them: safe to print as an override to paste."""
    if isinstance(value, (list, tuple)):
        return all(_is_printable(v) for v in value)
    return (
        value is None
        or isinstance(value, (bool, int, float))
        or (isinstance(value, str) and bool(PLAIN_NAME.fullmatch(value)))
    )


def _check_progress(ckpt: Checkpoint) -> None:
    """What Lightning and the Classifier read to continue a run, present and of its type: a checkpoint saved with
    weights only, or edited, would otherwise end in a traceback once fitting starts."""
    content = ckpt.content
    problems = [*_lightning_problems(content), *_rng_problems(content.get("rng", {})), *_module_problems(content)]
    if problems:
        raise ConfigError(
            f"{ckpt.where} cannot be resumed: {'; '.join(problems)}. A run's checkpoint holds its progress and random "
            f"state; this one was saved with weights only (save_weights_only), edited or damaged. Resume from another "
            f"checkpoint of the run (its checkpoints/ folder), or start a new run from these weights with "
            f"init_from={ckpt.path}."
        )


def _lightning_problems(content: Mapping[str, Any]) -> list[str]:
    missing = [key for key in PROGRESS if key not in content]
    problems = [f"it lacks {', '.join(missing)}"] if missing else []
    problems += [
        f"{key} is a {type(content[key]).__name__}, not {kind}"
        for key, (cls, kind) in PROGRESS.items() if key in content and not isinstance(content[key], cls)
    ]  # fmt: skip
    if isinstance(content.get("optimizer_states"), list) and not all(
        map(_optimizer_state, content["optimizer_states"])
    ):
        problems.append("optimizer_states are not torch.optim state dicts (param_groups, each with its params)")
    return problems


def _module_problems(content: Mapping[str, Any]) -> list[str]:
    """The Classifier's own keys (train/module.py on_load_checkpoint), absent in older checkpoints."""
    problems = []
    history = content.get("history", {})
    if not isinstance(history, Mapping) or not all(isinstance(epoch, Mapping) for epoch in history.values()):
        problems.append("history is not a mapping of each epoch's figures")
    if not isinstance(content.get("train_steps_pending", {}), Mapping):
        problems.append("train_steps_pending is not a mapping")
    return problems


def _optimizer_state(state: Any) -> bool:
    groups = state.get("param_groups") if isinstance(state, Mapping) else None
    return isinstance(groups, list) and all(
        isinstance(g, Mapping) and isinstance(g.get("params"), list) for g in groups
    )


def _rng_problems(rng: Any) -> list[str]:
    """The random state the Classifier restores: torch's (set_state checks its size and content) and CUDA's."""
    if not isinstance(rng, Mapping):
        return [f"rng is a {type(rng).__name__}, not a mapping"]
    problems = []
    if "torch" in rng:
        try:
            torch.Generator().set_state(rng["torch"])  # a throw-away generator: the run's own state is untouched
        except (RuntimeError, TypeError) as err:
            problems.append(f"rng.torch is no torch random state ({str(err).splitlines()[0]})")
    cuda = rng.get("cuda", [])
    if not isinstance(cuda, (list, tuple)) or not all(isinstance(s, Tensor) and s.dtype == torch.uint8 for s in cuda):
        problems.append("rng.cuda is not a list of byte tensors (one per GPU)")
    return problems
