"""task=test: evaluate a checkpoint as its record describes it (its model, its data unless data=... is given)."""

from __future__ import annotations

import sys
import time

from pytorch_lightning.utilities.exceptions import SIGTERMException

from cnnexp.checkpoint.load import Checkpoint
from cnnexp.checkpoint.match import checkpoint_for
from cnnexp.run import Run
from cnnexp.tasks.assemble import Experiment, assemble
from cnnexp.tasks.base import TASKS
from cnnexp.tasks.outcome import announce, outcome
from cnnexp.tasks.stops import interrupted
from cnnexp.train.launch import ddp_children, ddp_processes


@TASKS.register("test")
def test_task(run: Run) -> float:
    """The checkpoint's model on the data it records (or data=... with the same classes); no overrides needed."""
    run, ckpt = checkpoint_for(run, "test")
    with ddp_children(ddp_processes(run.trainer.args), run.invocation):
        return _test(run, ckpt)


def _test(run: Run, ckpt: Checkpoint) -> float:
    exp = assemble(run, fit=False)
    ckpt.load_into(exp.module.net, "test it with the model and input size it was trained with (model=... data=...)")
    start = time.perf_counter()
    try:
        tested = exp.trainer.test(exp.module, datamodule=exp.datamodule, verbose=False)
    except SIGTERMException:
        raise interrupted(
            run.invocation.overrides, exp.run_dir, "test", ckpt.path, exp.trainer.is_global_zero, resumes=False
        ) from None
    metrics = {**outcome(exp, tested[0], time.perf_counter() - start, str(ckpt.path)), "epochs": None}
    if exp.trainer.is_global_zero:
        _other_class_names(exp, ckpt)
        announce(exp, metrics)
    return metrics["test_acc"]


def _other_class_names(exp: Experiment, ckpt: Checkpoint) -> None:
    """Same class count, other names (digits' '7' and MNIST's '7 - seven'): labels are matched by index; say so."""
    trained = list(ckpt.record.data.classes) if ckpt.record else []
    tested = list(exp.datamodule.class_names)
    if trained and tested != trained:
        pairs = ", ".join(f"{a} = {b}" for a, b in list(zip(trained, tested))[:4])
        print(f"note: data={exp.run.data.name} names its classes otherwise than the checkpoint's; they are matched by "
              f"position ({pairs}, ...)", file=sys.stderr, flush=True)  # fmt: skip
