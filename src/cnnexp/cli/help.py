"""`python -m cnnexp --help`: cnnexp's tasks, its config groups with their choices, and example commands.

The page is cnnexp's own, printed before Hydra starts: Hydra's help page composes the config and lists every
group of every config source (the internal `schema` group too), which took seconds. The groups are read from
the folders themselves: yours (--config-dir, hydra.searchpath) first and marked, then conf/. `--hydra-help`
still shows Hydra's flags, and `--cfg job` the composed config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnnexp import CONF_DIR
from cnnexp.cli.configdirs import folders_in
from cnnexp.config.task_names import TASK_MODULES

FLAGS = ("--help", "-h")
HIDDEN = ("hydra", "schema")  # Hydra's own groups, and cnnexp's schemas
PAGE = """\
cnnexp: convolutional-network experiments declared in YAML.
Usage: python -m cnnexp [GROUP=OPTION ...] [KEY=VALUE ...]   (or `cnnexp ...`; -m sweeps comma-separated values)

Tasks (task=NAME):
{tasks}

Config groups (GROUP=OPTION; several at once for callbacks and logger: 'logger=[tensorboard,csv]'):
{groups}

Examples:
  python -m cnnexp                                       LeNet5 on the embedded digits: 3 epochs, then the test
  python -m cnnexp task=summary model=alexnet            AlexNet's table: shapes, parameters, mult-adds
  python -m cnnexp model=alexnet trainer.gpus=2          AlexNet on two GPUs (DDP), the digits resized for it
  python -m cnnexp model=alexnet_small data=cifar10      a small AlexNet on CIFAR-10
  python -m cnnexp -m model.activation=relu,tanh,sigmoid three runs, one per activation
  python -m cnnexp 'callbacks=[default,early_stopping]' logger=csv trainer.max_epochs=20
  python -m cnnexp task=lr_find                          the suggested learning rate, and its plot
  python -m cnnexp --config-dir my_conf model=my_model   your model in my_conf/model/my_model.yaml

Any key of the composed config can be set: KEY=VALUE (model.layers.conv1.filters=6); --cfg job prints the
composed config, -m runs a sweep, --hydra-help lists Hydra's own flags. Docs: README.md and docs/ in the
repository; configs of your own: README.md "Your own configs".
"""


def wants_help(argv: Sequence[str]) -> bool:
    return any(arg in FLAGS for arg in argv)


def page(argv: Sequence[str]) -> str:
    return PAGE.format(tasks=tasks_text(), groups=groups_text(folders_in(argv), CONF_DIR))


def tasks_text() -> str:
    width = max(len(name) for name in TASK_MODULES)
    return "\n".join(f"  {name.ljust(width)}  {line}" for name, (_, line) in TASK_MODULES.items())


def groups_text(yours: list[Path], shipped: Path) -> str:
    """One line per group: its options, yours marked with *, and a closing note when any are yours."""
    options: dict[str, dict[str, bool]] = {}
    for folder, mine in [*((f, True) for f in yours), (shipped, False)]:
        for group, names in group_options(folder).items():
            for name in names:
                options.setdefault(group, {}).setdefault(name, mine)  # the first folder with the name wins
    width = max(len(group) for group in options)
    lines = [f"  {group.ljust(width)}  {', '.join(n + ('*' if mine else '') for n, mine in sorted(found.items()))}"
             for group, found in sorted(options.items())]  # fmt: skip
    if any(mine for found in options.values() for mine in found.values()):
        lines.append(
            "  * yours (from "
            + ", ".join(str(f) for f in yours)
            + "); a file of yours replaces a shipped one of the same name"
        )
    return "\n".join(lines)


def group_options(folder: Path) -> dict[str, list[str]]:
    """group -> option names of the YAML files below `folder` (nested groups as a/b); Hydra's and the schemas left out."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.yaml")):
        group = path.parent.relative_to(folder).as_posix()
        if group != "." and group.split("/")[0] not in HIDDEN:
            found.setdefault(group, []).append(path.stem)
    return found
