"""The Hydra callback around a multirun (conf/config.yaml: hydra.callbacks.report): it holds the sweep folder
while the sweep runs, writes the sweep report when it ends, and ends the process non-zero unless every job
succeeded.

Hydra instantiates callbacks for every run, single or multi, so this module imports nothing heavy: the report
code is imported only when a multirun has ended. Hydra turns an exception raised in a callback into a warning,
so a verdict leaves as a Stop (a SystemExit) whose message the door prints (cli/exits.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cnnexp.config.invocation import as_typed
from cnnexp.errors import Stop
from cnnexp.rundir.lock import FolderLock
from cnnexp.rundir.names import SWEPT_ENV

log = logging.getLogger(__name__)
SWEEP_LOCK = "sweep.lock"
# (lock, SWEPT_ENV before) of the sweeps this process runs: one stopped by a job never reaches on_multirun_end.
_HELD: list[tuple[FolderLock, str | None]] = []
FINE = ("ok", "pruned")  # a pruned Optuna trial did what was asked of it


class ReportCallback(Callback):
    """Locks hydra.sweep.dir at the start; writes report.md, report.csv and the plots there after the last job."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _preflight(config)  # before the sweep folder: a sweep that starts no job leaves nothing behind
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(sweep_dir / SWEEP_LOCK)
        if not lock.acquire():
            message = (
                f"{sweep_dir} is in use by a running sweep ({lock.holder()}); wait for it to end, or give this sweep "
                f"a folder of its own (leave hydra.sweep.dir unset and every sweep gets a new one)."
            )
            raise Stop(2, message, reported=True, said=False)  # the report there belongs to the other sweep
        _HELD.append((lock, os.environ.get(SWEPT_ENV)))
        # Job folders are named by the swept overrides alone (rundir/names.py); launcher processes inherit this.
        os.environ[SWEPT_ENV] = ",".join(swept_keys(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            if str(config.get("task", "train")) != "summary":  # summaries write no figures to report
                self._report(config)
        finally:
            release_sweep_locks()

    def _report(self, config: DictConfig) -> None:
        # A report that cannot be drawn must not hide how the jobs ended: the verdict is read apart from it.
        sweep_dir = None
        try:
            from cnnexp.report.build import write_report

            sweep_dir = Path(str(config.hydra.sweep.dir))
            report = write_report(sweep_dir)
            log.info("sweep report: %s", "  ".join(str(p) for p in report.files))
        except Exception as err:
            why = f"{type(err).__name__}: {err}"
            log.warning("sweep report not written for %s: %s (python -m cnnexp.report DIR retries)", sweep_dir, why)
        if sweep_dir is not None:
            verdict(sweep_dir)


def _preflight(config: DictConfig) -> None:
    """No job starts when every job would stop on a mistake (sweep/preflight.py): one paragraph, exit 2."""
    from cnnexp.errors import UserFacingError
    from cnnexp.sweep.preflight import check_sweep  # imports the run reader: only for a multirun

    try:
        check_sweep(config)
    except UserFacingError as err:
        raise Stop(err.exit_code, str(err), reported=True, said=False) from None


def running_sweep() -> Path | None:
    """The folder of the sweep this process runs, if any (Hydra's own record of it is gone once a job stopped it)."""
    return _HELD[-1][0].path.parent if _HELD else None


def release_sweep_locks() -> None:
    """Release (and remove) the sweep locks this process holds: at a sweep's end, or when a job stopped it."""
    while _HELD:
        lock, swept = _HELD.pop()
        lock.release()
        os.environ.pop(SWEPT_ENV, None) if swept is None else os.environ.__setitem__(SWEPT_ENV, swept)


def swept_keys(config: DictConfig) -> list[str]:
    """The keys the sweep varies: its `hydra.sweeper.params` (a preset's axes) and the command line's sweeps
    (`seed=1,2`, `lr=range(...)`)."""
    params = config.hydra.get("sweeper", {}).get("params") or {}
    try:
        parsed = OverridesParser.create().parse_overrides(as_typed(config.hydra.overrides.task))
    except Exception:  # noqa: BLE001  (Hydra parsed them already; a name is only a name)
        parsed = []
    given = [o.get_key_element() for o in parsed if o.is_sweep_override()]
    return list(dict.fromkeys(key.lstrip("+~") for key in [*map(str, params), *given]))


def verdict(sweep_dir: Path) -> None:
    """Stop with a non-zero code when a job of the sweep did not succeed, naming them."""
    from cnnexp.report.collect import collect_sweep

    try:
        jobs = collect_sweep(sweep_dir).jobs
    except Exception:  # noqa: BLE001  (no jobs at all: Hydra ran none, nothing failed)
        return
    bad = [job for job in jobs if job.status not in FINE]
    if not bad:
        return
    codes = {int(job.metrics.get("exit_code", 1)) for job in bad}
    listed = "; ".join(f"{job.folder.name}: {job.status}: {_short(job.reason)}" for job in bad[:5])
    more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
    message = f"{len(bad)} of {len(jobs)} jobs did not succeed (report.md in {sweep_dir} lists them): {listed}{more}"
    raise Stop(codes.pop() if len(codes) == 1 else 1, message, reported=True, said=False)


def _short(reason: str, limit: int = 160) -> str:
    text = reason or "no reason recorded"
    return text if len(text) <= limit else text[: limit - 3] + "..."
