"""Where configs come from: your folders first, then the configs cnnexp ships (conf/).

Hydra puts an app's own config folder ahead of `--config-dir` and `hydra.searchpath`, so a file of yours named
like a shipped one (model/lenet5.yaml) would be ignored without a word. cnnexp turns that round: its primary
config is a small node (`cnnexp`) that names conf/ in its `hydra.searchpath`, after the folders you add, so
your file wins, and the run says which shipped files yours replace. A `hydra.searchpath` or `--config-name`
of yours on the command line gets conf/ appended to the search path (`command_line`). DDP ranks that cnnexp
starts get the same search path (Invocation.child_arguments, cli/invocation.py); launchers carry it inside Hydra's config loader.

`GROUP=null` on the command line drops a group (logger=null, callbacks=null), as `~GROUP` does in Hydra 1.3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser

from cnnexp import CONF_DIR
from cnnexp.cli.resolvers import register_resolvers

log = logging.getLogger(__name__)

PRIMARY = "cnnexp"  # the primary config's name (ConfigStore), as hydra.main and the Python API compose it
SHIPPED = f"file://{CONF_DIR}"
SEARCHPATH = "hydra.searchpath"
NOT_PASSED_ON = ("hydra", "schema")  # search path entries every Hydra process sets up by itself


def register_primary() -> None:
    """conf/config.yaml under the folders of yours (`--config-dir`, hydra.searchpath), which come first, with the
    resolvers its folder names use (registered before Hydra resolves hydra.run.dir)."""
    register_resolvers()
    node = {"defaults": ["config", "_self_"], "hydra": {"searchpath": [SHIPPED]}}
    ConfigStore.instance().store(name=PRIMARY, node=node)


def command_line(argv: Sequence[str]) -> list[str]:
    """Hydra's command line, read the cnnexp way: GROUP=null drops the group; conf/ stays in the search path."""
    user_dirs = [Path(d) for d in _flag_values(argv, ("--config-dir", "-cd"))]
    args = [_null_group(arg, user_dirs) for arg in argv]
    if any(a.startswith(SEARCHPATH + "=") for a in args):
        return [_with_shipped(a) if a.startswith(SEARCHPATH + "=") else a for a in args]
    if _flag_values(args, ("--config-name", "-cn")):
        return [*args, searchpath_override([SHIPPED])]  # a primary config of yours: conf/ after your folders
    return args


def folders_in(argv: Sequence[str]) -> list[Path]:
    """Your config folders named on a command line (--config-dir, file:// entries of hydra.searchpath), in order."""
    folders = [Path(d).expanduser().absolute() for d in _flag_values(argv, ("--config-dir", "-cd"))]
    for arg in argv:
        if arg.startswith(SEARCHPATH + "="):
            folders += [Path(e[len("file://") :]) for e in _entries(arg) if e.startswith("file://") and e != SHIPPED]
    return folders


def _flag_values(argv: Sequence[str], names: tuple[str, ...]) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith(tuple(f"{n}=" for n in names)):
            values.append(arg.split("=", 1)[1])
    return values


def _null_group(arg: str, user_dirs: Iterable[Path]) -> str:
    """`logger=null` -> `~logger` when `logger` is a config group (Hydra 1.3 refuses null as a group's option)."""
    key, _, value = arg.partition("=")
    if value != "null" or not key.isidentifier():
        return arg
    return f"~{key}" if any((folder / key).is_dir() for folder in (*user_dirs, CONF_DIR)) else arg


def _entries(arg: str) -> list[str]:
    """The entries of a `hydra.searchpath=[...]` override, as Hydra's parser reads them."""
    value = OverridesParser.create().parse_override(arg).value()
    return [str(e) for e in (value if isinstance(value, list) else [value])]


def _with_shipped(arg: str) -> str:
    entries = _entries(arg)
    return searchpath_override(entries if SHIPPED in entries else [*entries, SHIPPED])


def searchpath_override(entries: Sequence[str]) -> str:
    """`hydra.searchpath=[...]` with every entry quoted (paths may hold commas or spaces)."""
    quoted = ",".join("'" + e.replace("\\", "\\\\").replace("'", "\\'") + "'" for e in entries)
    return f"{SEARCHPATH}=[{quoted}]"


def shadowed(folders: Iterable[Path]) -> list[str]:
    """'model/lenet5.yaml (from DIR)' for each file of yours that has the name of a shipped one."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.yaml")):
            name = path.relative_to(folder).as_posix()
            if (CONF_DIR / name).is_file():
                found.append(f"{name} (from {folder})")
    return found


def say_shadowed(folders: Iterable[Path]) -> None:
    """One line naming the shipped configs your files (in `folders`) replace, so it is never silent."""
    replaced = shadowed(folders)
    if replaced:
        log.info(f"configs: yours replace cnnexp's {', '.join(replaced)}")
