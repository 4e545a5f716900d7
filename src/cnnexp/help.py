"""`python -m cnnexp --help`: cnnexp's tasks, its config groups with their choices, and example commands.

conf/hydra/help/cnnexp.yaml is the page; its `${cnnexp_help:tasks}` and `${cnnexp_help:groups}` are filled in
here from the tasks cnnexp knows and the config folders in the search path (yours marked), leaving out the
internal `schema` group and Hydra's own groups. Imports nothing heavy: --help must not wait for torch.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from cnnexp import CONF_DIR
from cnnexp.configdirs import user_folders
from cnnexp.task_names import TASK_MODULES

RESOLVER = "cnnexp_help"
HIDDEN = ("hydra", "schema")  # Hydra's own groups, and cnnexp's schemas


def register_help() -> None:
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, section)


def section(name: str) -> str:
    if name == "tasks":
        return tasks_text()
    if name == "groups":
        return groups_text(user_folders(), CONF_DIR)
    raise ValueError(f"{RESOLVER}: no section '{name}' (tasks, groups)")


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
        lines.append("  * yours (from " + ", ".join(str(f) for f in yours) + "); a file of yours replaces a shipped one of the same name")
    return "\n".join(lines)


def group_options(folder: Path) -> dict[str, list[str]]:
    """group -> option names of the YAML files below `folder` (nested groups as a/b); Hydra's and the schemas left out."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.yaml")):
        group = path.parent.relative_to(folder).as_posix()
        if group != "." and group.split("/")[0] not in HIDDEN:
            found.setdefault(group, []).append(path.stem)
    return found
