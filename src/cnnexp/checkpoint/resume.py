"""Resuming (`task=train ckpt_path=...`) continues the checkpoint's run: what must be the checkpoint's.

The model, the data's shape and classes, the optimizer and its settings, the schedule and the frozen layers
(from the record, before anything is built); then the built network's tensors and the optimizer state (also for
checkpoints without a record). Anything else (max_epochs, batch size, devices, callbacks) may change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cnnexp.checkpoint.load import Checkpoint, weight_mismatches
from cnnexp.checkpoint.plain import ABSENT, diff, fmt_value
from cnnexp.errors import ConfigError
from cnnexp.run import Run
from cnnexp.train.module import Classifier
from cnnexp.train.optim import OPTIMIZERS

# What a resumed run may not change. Not data.adapt: the shapes on both sides are compared, and with them fixed
# adapting changes nothing (null and true adapt alike; false only refuses what would need adapting).
RESUMED_DATA = ("name", "channels", "height", "width", "num_classes")
SHOWN = 3


def check_resume(run: Run, ckpt: Checkpoint) -> None:
    """Resuming continues the checkpoint's run: refuse what would make it another run (before anything is built)."""
    if not ckpt.lightning:
        raise ckpt.plain_state_dict_error("resume", "it has no optimizer state, epoch or step to continue from")
    if ckpt.record is None:
        return  # an older checkpoint: its weights and optimizer state are checked once the network is built
    found = list(_resume_differences(ckpt.record.run, run))
    if not found:
        return
    listed = "; ".join(f"{key}={fmt_value(a)} in the checkpoint, {fmt_value(b)} in this run" for key, a, b in found[:SHOWN])
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
        yield from diff(*({k: v for k, v in m.items() if k != "init"} for m in (a["model"], b["model"])), "model")
    yield from diff({k: a["data"][k] for k in RESUMED_DATA}, {k: b["data"][k] for k in RESUMED_DATA}, "data")
    if a["optimizer"]["_target_"] != b["optimizer"]["_target_"]:
        yield "optimizer", a["optimizer"]["_target_"], b["optimizer"]["_target_"]
    else:
        yield from diff(a["optimizer"], b["optimizer"], "optimizer")
    if (a["scheduler"] is None) != (b["scheduler"] is None):
        yield "scheduler", (a["scheduler"] or {}).get("_target_", "none"), (b["scheduler"] or {}).get("_target_", "none")
    elif a["scheduler"] is not None:
        yield from diff(a["scheduler"], b["scheduler"], "scheduler")
    if a["freeze"] != b["freeze"]:
        yield "freeze", a["freeze"], b["freeze"]


def _override(key: str, value: Any) -> str:
    """The override that sets `key` back to the checkpoint's `value` (optimizer=adam for a class)."""
    if key == "optimizer":
        names = [name for name, cls in OPTIMIZERS.items() if str(value).rsplit(".", 1)[-1] == cls.__name__]
        return f"optimizer={names[0]}" if names else f"optimizer._target_={value}"
    if key == "scheduler" and value == "none":
        return "scheduler=none"
    return f"{'~' + key if value is ABSENT else key + '=' + fmt_value(value)}"


