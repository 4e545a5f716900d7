"""Configs of your own: a folder given with --config-dir (or config_dir= in the API) comes before the shipped
conf/, needs no Hydra lines, and reaches every process of a run: DDP ranks and launchers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from processes import cnnexp
from support import job_overrides

from cnnexp import CONF_DIR, api
from cnnexp.cli.configdirs import SHIPPED, command_line, searchpath_override, shadowed
from cnnexp.cli.help import groups_text, page

TINY_MODEL = """\
# A model of my own: no `defaults:` line.
name: tiny
input: {channels: "${data.channels}", height: "${data.height}", width: "${data.width}"}
num_classes: ${data.num_classes}
layers:
  conv1: {type: conv, filters: 8, F: 3}
  act1: {type: activation}
  pool1: {type: maxpool, F: 2, S: 2}
  flatten: {type: flatten}
  fc1: {type: linear, out: "${model.num_classes}"}
"""
MY_LENET5 = TINY_MODEL.replace("name: tiny", "name: lenet5").replace("filters: 8", "filters: 4")
SMALL_DIGITS = "defaults: [digits, _self_]\ntrain_size: 600\ntest_size: 101\nval_size: 0.2\n"
QUICK = "# @package _global_\ndefaults:\n  - override /model: tiny\n  - override /data: small_digits\ntrainer:\n  max_epochs: 1\n  enable_progress_bar: false\n"


@pytest.fixture
def my_conf(tmp_path: Path) -> Path:
    """A user's folder: a model, a same-name model, a data config and an experiment."""
    folder = tmp_path / "my conf"  # a space: paths are quoted wherever they travel
    for name, text in {"model/tiny": TINY_MODEL, "model/lenet5": MY_LENET5, "data/small_digits": SMALL_DIGITS,
                       "experiment/quick": QUICK}.items():  # fmt: skip
        path = folder / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_group_null_drops_the_group_and_other_nulls_stay() -> None:
    assert command_line(["logger=null", "callbacks=null", "ckpt_path=null", "model.layers.drop1=null"]) == [
        "~logger", "~callbacks", "ckpt_path=null", "model.layers.drop1=null",
    ]  # fmt: skip


def test_a_group_of_yours_can_be_dropped_too(my_conf: Path) -> None:
    (my_conf / "extras").mkdir()
    assert command_line(["--config-dir", str(my_conf), "extras=null"])[-1] == "~extras"
    assert command_line(["extras=null"]) == ["extras=null"]  # not a group without your folder


def test_the_shipped_configs_stay_in_any_search_path() -> None:
    mine = "file:///home/me/conf"
    assert command_line([f"hydra.searchpath=[{mine}]"]) == [searchpath_override([mine, SHIPPED])]
    assert command_line(["--config-name", "mine"]) == ["--config-name", "mine", searchpath_override([SHIPPED])]
    assert searchpath_override(["file:///a, b's"]) == "hydra.searchpath=['file:///a, b\\'s']"


def test_shadowed_files_are_named(my_conf: Path) -> None:
    assert shadowed([my_conf]) == [f"model/lenet5.yaml (from {my_conf})"]


def test_help_marks_your_options(my_conf: Path) -> None:
    text = groups_text([my_conf], CONF_DIR)
    assert "resnet20, squeezenet1_1, tiny*, vgg11" in text and "lenet5*" in text and "small_digits*" in text
    assert text.splitlines()[-1].startswith(f"  * yours (from {my_conf})")
    assert text in page(["--help", "--config-dir", str(my_conf)])
    assert text in page(["--help", searchpath_override([f"file://{my_conf}", "pkg://elsewhere.conf"])])
    assert "*" not in page(["--help"])


def test_your_model_gets_the_schema_without_a_line_of_hydra(my_conf: Path) -> None:
    cfg = api.compose("model=tiny", config_dir=my_conf, output_dir="unused")
    assert (cfg.model.activation, cfg.model.init, cfg.model.strict) == ("relu", "auto", False)  # schema defaults
    with pytest.raises(Exception, match="activaton"):
        api.compose("model=tiny", "model.activaton=tanh", config_dir=my_conf)  # a typo fails at compose time
    assert api.build_model("tiny", "model.activation=tanh", config_dir=my_conf).summary.params == 13_610


def test_your_file_wins_over_a_shipped_one_of_the_same_name(my_conf: Path) -> None:
    assert api.build_model("lenet5", config_dir=my_conf).summary.params == (4 * 9 + 4) + (4 * 13 * 13 * 10 + 10)
    assert api.build_model("lenet5").summary.params == 176_050


@pytest.mark.slow
def test_ddp_inside_a_sweep_runs_each_job_once_and_its_ranks_get_your_folder(my_conf: Path, tmp_path: Path) -> None:
    # One DDP sweep pins both: each job trained once by two ranks, and the ranks compose from your folder.
    sweep = tmp_path / "sweep"
    ddp = ("trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp")
    args = ("--config-dir", str(my_conf), "-m", "experiment=quick", *ddp, "seed=1,2", f"hydra.sweep.dir={sweep}")
    run = cnnexp(tmp_path, *args, data=tmp_path.parent / "data")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [[o for o in job_overrides(job) if o.startswith("seed=")] for job in jobs] == [["seed=1"], ["seed=2"]]
    assert [job.name for job in jobs] == ["000_seed=1", "001_seed=2"]  # named by the swept override alone
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        assert (metrics["status"], metrics["model"], metrics["world_size"], metrics["test_images"]) == (
            "ok",
            "tiny",
            2,
            101,
        )
        assert metrics["epochs"] == 1 and len(list((job / "checkpoints").glob("epoch*.ckpt"))) == 1  # trained once
        assert (job / "rank1.log").is_file()
    assert run.stdout.count("test accuracy") == 2  # two jobs, each reported by its rank 0 only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my conf", "sweep"]  # no stray run or sweep folders


@pytest.mark.slow
def test_launchers_carry_your_folder_and_give_the_sequential_results(
    my_conf: Path, tmp_path: Path, cli: Callable[..., tuple[int, str]], joblib_workers_end: None
) -> None:
    # One sweep per launcher pins both: each worker composes from your folder (model "tiny"), and the same seeds
    # give the same figures whichever launcher ran them (joblib's workers, submitit's processes, or in sequence).
    # The sweep itself runs in this process (`cli`): the workers are the processes that carry the folder.
    results = {}
    for launcher in ("", "launcher=local_parallel", "hydra/launcher=submitit_local"):
        sweep = tmp_path / (launcher.split("=")[-1] or "basic")
        args = ("--config-dir", str(my_conf), "-m", "experiment=quick", "seed=1,2", f"hydra.sweep.dir={sweep}")
        code, err = cli(*args, *filter(None, [launcher]))
        assert code == 0, err[-3000:]
        found = {}
        for metrics in sweep.glob("*/metrics.json"):
            seed = next(o for o in job_overrides(metrics.parent) if o.startswith("seed="))
            figures = json.loads(metrics.read_text())
            assert figures["model"] == "tiny", launcher
            found[seed] = (figures["test_acc"], figures["test_loss"])
        results[sweep.name] = found
    assert sorted(results["basic"]) == ["seed=1", "seed=2"]
    assert results["local_parallel"] == results["basic"] == results["submitit_local"]  # same seeds, same figures
