"""A sweep reads every job's config before it launches any (sweep/preflight.py): when all of them would stop on a
mistake, none starts, no folder is made and no report of failures is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Cli, one_paragraph


def test_a_mistake_every_job_shares_starts_no_job(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    code, err = cli(
        "-m", "task=summary", "model=lenet5,alexnet_small", "data.val_size=99999", f"hydra.sweep.dir={sweep}"
    )
    assert code == 2
    assert one_paragraph(err) == (
        "every job of this sweep (2) would stop on the same mistake, so none was started: data.val_size=99999 leaves "
        "no training images of the 60000 in the train split; set data.val_size below 60000, or a share such as 0.1 "
        "(0 for none)."
    )
    assert not sweep.exists()  # no sweep folder, no job folder, no report


def test_jobs_that_all_fail_differently_name_the_first_by_what_it_sweeps(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    code, err = cli("-m", "task=summary", "model.layers.pool2.F=9,10", f"hydra.sweep.dir={sweep}")
    assert code == 2 and not sweep.exists()
    assert one_paragraph(err).startswith(
        "every job of this sweep (2) would stop on a mistake, so none was started; the first "
        "(model.layers.pool2.F=9): model.layers.pool2 (layer 5, maxpool): window F=9 is larger than its 8×8 input"
    )


def test_a_sweep_with_one_good_job_runs_and_only_the_bad_one_fails(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    _, err = cli("-m", "task=summary", "model.layers.pool2.F=2,9", f"hydra.sweep.dir={sweep}")
    assert "would stop" not in err
    assert err.count("cnnexp: error: job failed, the sweep goes on: model.layers.pool2 (layer 5, maxpool)") == 1
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "000_model.layers.pool2.F=2", "001_model.layers.pool2.F=9",
    ]  # fmt: skip


@pytest.mark.slow
def test_a_mistake_in_a_preset_sweeps_params_is_found_too(cli: Cli, tmp_path: Path) -> None:
    # The preset's params (loss: mse,cross_entropy; seed: 1,2,3) make the six jobs; each is read before any starts.
    sweep = tmp_path / "sweep"
    args = ("-m", "task=summary", "experiment=mse_vs_cross_entropy", "data.val_size=99999", f"hydra.sweep.dir={sweep}")
    code, err = cli(*args)
    assert code == 2 and not sweep.exists()
    assert one_paragraph(err).startswith(
        "every job of this sweep (6) would stop on the same mistake, so none was started: data.val_size=99999"
    )
