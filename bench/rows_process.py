"""The rows about a whole command, each side in a process of its own: start-up time and peak memory.

Start-up: `python -m cnnexp ...` (through timed_main.py) from its launch to the moment its first training
step is about to run (a probe callback writes the time and ends the process), minus the time the same
process spent importing torch, Lightning and Hydra: what is left is cnnexp's own start-up (the interpreter,
its other imports, composing the config, checking and building the model, reading the data, the Trainer,
the sanity check).
"""

from __future__ import annotations

import json

from omegaconf import DictConfig

from cnnexp.experiment import plain
from goals import figure
from procs import Finished, run
from rows import Bench
from table import Goal, Row, measured, median, spread

MiB = 2**20


def _overrides(bench: Bench, name: str, *extra: str) -> list[str]:
    """The bench's overrides for a `python -m cnnexp` process; Hydra's run folder under the scratch folder."""
    return [*bench.overrides(*extra), f"hydra.run.dir={bench.tmp / 'runs' / name}"]


def startup(bench: Bench, goal: Goal) -> Row:
    startups, imports = [], []
    for rep in range(bench.size.repeats):
        stamp, imported = bench.tmp / f"first_step{rep}.txt", bench.tmp / f"imports{rep}.txt"
        probe = ("+callbacks.first_step._target_=hooks.FirstStepProbe", f"+callbacks.first_step.path={stamp}")
        args = ["bench/timed_main.py", str(imported), *_overrides(bench, f"startup{rep}", *probe)]
        launched = run(args, bench.tmp / "logs" / f"startup{rep}.log")
        startups.append(float(stamp.read_text()) - launched.started)
        imports.append(float(imported.read_text()))
    own = [s - i for s, i in zip(startups, imports)]
    return measured(
        figure("startup", bench.size.train_images), bench.device_name, f"{median(startups):.2f} s to first step",
        f"{median(imports):.2f} s of it importing", median(own), f"{median(own):.2f} s ({spread(own)})", goal,
    )  # fmt: skip


def _plain_spec(bench: Bench, cfg: DictConfig, steps: int) -> str:
    """The plain loop child's instructions: the same composed model, digits, batch and steps as cnnexp's run."""
    spec = {
        "model": plain(cfg, "model"), "data_root": str(bench.data_root), "train_size": bench.size.train_images,
        "test_size": bench.size.test_images, "seed": int(cfg.data.seed), "batch": bench.size.batch,
        "steps": steps, "lr": float(cfg.optimizer.lr), "device": str(bench.device),
    }  # fmt: skip
    path = bench.tmp / "plain_loop.json"
    path.write_text(json.dumps(spec))
    return str(path)


def memory(bench: Bench, goal: Goal) -> tuple[Row, str]:
    """Peak RSS of a whole `python -m cnnexp` run vs the plain loop's process; also a note on where it goes."""
    steps = bench.size.memory_steps
    spec = _plain_spec(bench, bench.cfg("memory_spec"), steps)
    ours: list[Finished] = []
    peers: list[Finished] = []
    for rep in range(bench.size.repeats):
        logs = bench.tmp / "logs"
        command = ["-m", "cnnexp", *_overrides(bench, f"memory{rep}", f"trainer.max_steps={steps}")]
        ours.append(run(command, logs / f"memory{rep}.log"))
        peers.append(run(["bench/child.py", spec], logs / f"plain_memory{rep}.log"))
    ours_mib = [f.peak_bytes / MiB for f in ours]
    peer_mib = [f.peak_bytes / MiB for f in peers]
    ratios = [o / p for o, p in zip(ours_mib, peer_mib)]
    row = measured(
        figure("memory", bench.size.train_images), bench.device_name, f"{median(ours_mib):,.0f} MiB",
        f"{median(peer_mib):,.0f} MiB", median(ratios), f"{median(ratios):.2f}× ({spread(ratios)})", goal,
    )  # fmt: skip
    return row, _import_note(bench, median(ours_mib), median(peer_mib))


OURS_IMPORTS = "import cnnexp.app, cnnexp.tasks.train"
PEER_IMPORTS = "import clocks, peers, cnnexp.data.digits, cnnexp.model.builder, cnnexp.model.spec"  # child.py's


def _import_note(bench: Bench, ours_mib: float, peer_mib: float) -> str:
    """Peak RSS of each side's imports alone: how much of the gap is libraries rather than the run."""
    logs = bench.tmp / "logs"
    ours_imports = run(["-c", OURS_IMPORTS], logs / "imports_cnnexp.log").peak_bytes / MiB
    peer_imports = run(["-c", PEER_IMPORTS], logs / "imports_plain.log").peak_bytes / MiB
    return (
        f"peak memory: cnnexp's imports alone (torch, Lightning and what it imports: torchmetrics, torchvision; "
        f"Hydra) peak at {ours_imports:,.0f} MiB, the plain loop's (torch) at {peer_imports:,.0f} MiB; above its imports "
        f"the cnnexp run adds {ours_mib - ours_imports:,.0f} MiB and the plain loop {peer_mib - peer_imports:,.0f} MiB "
        f"(dataset, model, optimiser state, activations, kernels loaded on first use)."
    )
