"""The command line's door: compose the configs (yours first, then conf/), run the task named by `task=`
through the one lifecycle (tasks/lifecycle.py), and turn what it raises into what the user sees.

A single run ends on a user mistake with one paragraph and its exit code (2; 3 for a failed training), on a
bug with the traceback and 1, on SIGTERM or Ctrl-C with 143 (cli/exits.py). In a multirun a failing job does
not stop the others (its failure is in its metrics.json, and one line says so); an interruption, or a job
folder that holds another run, stops the sweep.

The task function lives in this importable module (not in __main__) because parallel and cluster launchers
(joblib, submitit) pickle it by reference and call it in other processes. Nothing heavy is imported before
a task runs: --help (cnnexp's own page, cli/help.py), shell completion and task=summary never load Lightning.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from cnnexp.cli.configdirs import PRIMARY, command_line, register_primary, say_shadowed
from cnnexp.cli.exits import end, run_app, say
from cnnexp.cli.help import page, wants_help
from cnnexp.cli.invocation import from_hydra
from cnnexp.cli.resolvers import register_resolvers
from cnnexp.config.invocation import Invocation
from cnnexp.errors import Stop
from cnnexp.rundir.claim import Refused
from cnnexp.schemas import register_schemas

# Launchers run jobs in other processes (joblib, submitit), which import this module to run the task; Hydra
# resolves the job's folder name there, with the resolvers conf/config.yaml names.
register_resolvers()


# No config_path: the primary config `cnnexp` (cli/configdirs.py) names conf/ after any folder of yours.
@hydra.main(version_base="1.3", config_path=None, config_name=PRIMARY)
def app(cfg: DictConfig) -> Any:
    logging.captureWarnings(True)  # warnings go to the console and into cnnexp.log (conf/hydra/job_logging)
    started = from_hydra()  # Hydra's settings, read here once: nothing below reads Hydra's state
    say_shadowed(started.user_folders)
    return run_job(cfg, started)


def run_job(cfg: DictConfig, started: Invocation | None = None) -> Any:
    """One run (or one job of a sweep) of the composed `cfg`, ended as the command line ends it."""
    from cnnexp.tasks.lifecycle import execute, failure_reason  # here: it reads runs, with torch

    started = started or from_hydra()
    try:
        return execute(cfg, started)
    except Exception as err:
        if not started.multirun:
            end(err, task=True)
        if isinstance(err, Refused):  # a re-run into a sweep's folder: its other jobs would be refused too
            raise Stop(err.exit_code, str(err), said=False) from None
        say(f"job failed, the sweep goes on: {failure_reason(err)}")
        return float("nan")  # what a sweeper (Optuna) reads as a failed trial


def main() -> None:
    args = sys.argv[1:]
    if wants_help(args):
        _print_help(page(args))
        return
    register_schemas()
    register_primary()
    sys.argv = [sys.argv[0], *command_line(args)]
    run_app(app)  # every error, Hydra's too, as one paragraph and an exit code (cli/exits.py)


def _print_help(text: str) -> None:
    """The help page; a reader that stops early (`--help | head`) ends it quietly, as other tools do."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
