"""The Hydra application: compose the configs (yours first, then conf/), then run the task named by `task=`.

The task function lives in this importable module (not in __main__) because parallel and cluster launchers
(joblib, submitit) pickle it by reference and call it in other processes. Nothing heavy is imported before
a task runs: --help (cnnexp's own page, help.py), shell completion and task=summary never load Lightning.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from cnnexp.configdirs import PRIMARY, command_line, register_primary, say_shadowed
from cnnexp.exits import run_app
from cnnexp.help import page, wants_help
from cnnexp.schemas import register_schemas


# No config_path: the primary config `cnnexp` (configdirs.py) names conf/ after any folder of yours.
@hydra.main(version_base="1.3", config_path=None, config_name=PRIMARY)
def app(cfg: DictConfig) -> Any:
    from cnnexp.tasks import run_task  # here: reading a run imports torch, which --help does not need

    logging.captureWarnings(True)  # warnings go to the console and into cnnexp.log (conf/hydra/job_logging)
    say_shadowed()
    return run_task(cfg)


def main() -> None:
    args = sys.argv[1:]
    if wants_help(args):
        _print_help(page(args))
        return
    register_schemas()
    register_primary()
    sys.argv = [sys.argv[0], *command_line(args)]
    run_app(app)  # every error, Hydra's too, as one paragraph and an exit code (cnnexp/exits.py)


def _print_help(text: str) -> None:
    """The help page; a reader that stops early (`--help | head`) ends it quietly, as other tools do."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
