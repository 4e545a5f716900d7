"""The entry point in-process (`cnnexp.app.main` with argv set): every mistake Hydra finds before a task runs is one
paragraph and exit 2, a run folder is never written over, and a name cannot lead a run out of outputs/."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import InstantiationException
from support import CONF, TINY, one_paragraph

from cnnexp.config.explain import explain
from cnnexp.rundir.claim import LOCK
from cnnexp.rundir.lock import FolderLock
from cnnexp.tasks import lifecycle


def test_a_misspelled_key_says_did_you_mean(cli) -> None:  # noqa: ANN001
    code, err = cli("task=summary", "trainer.max_epoch=3")
    assert code == 2 and one_paragraph(err) == (
        "trainer.max_epoch: trainer has no key max_epoch. Did you mean 'max_epochs'? (Hydra's `+trainer.max_epoch=` "
        "would add a new key that nothing reads; fix the name instead.)"
    )


def test_a_key_like_none_lists_the_keys_there(cli) -> None:  # noqa: ANN001
    code, err = cli("task=summary", "loss.zzzzqqq=1")
    assert code == 2 and one_paragraph(err).startswith("loss.zzzzqqq: loss has no key zzzzqqq. Keys there: name")


def test_an_unknown_option_names_the_options(cli) -> None:  # noqa: ANN001
    code, err = cli("task=summary", "model=lenet")
    assert code == 2 and one_paragraph(err).startswith(
        "model=lenet: conf/model/ has no lenet.yaml. Did you mean 'lenet5'? Choose one of: alexnet, "
    )


def test_a_duplicate_key_in_a_users_yaml(cli, tmp_path: Path) -> None:  # noqa: ANN001
    mine = tmp_path / "mine" / "model"
    mine.mkdir(parents=True)
    (mine / "twice.yaml").write_text(
        (CONF / "model" / "lenet5.yaml").read_text() + "num_classes: 10\nnum_classes: 10\n"
    )
    code, err = cli("task=summary", f"hydra.searchpath=[file://{tmp_path / 'mine'}]", "model=twice")
    paragraph = one_paragraph(err)
    assert code == 2 and paragraph.startswith(f"{mine / 'twice.yaml'}, line ")
    assert paragraph.endswith(
        ": found duplicate key num_classes (in the mapping that starts on line 3); keep one of them."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("model.name=${nosuch}",), "hydra.run.dir: Interpolation key 'nosuch' not found; fix the interpolation"),
        (("model.name=${model.name}",), "hydra.run.dir: Recursive interpolation detected; fix the interpolation"),
        (("+a=${b}", "+b=${a}"), "a: Recursive interpolation detected; fix the interpolation"),
        (("model.layers.conv1.F=(",), "Error parsing override 'model.layers.conv1.F=(' extraneous input '('"),
        (("seed=1.5",), "seed must be a whole number from 0 to 4294967295"),
        (("seed=abc",), "seed must be a whole number from 0 to 4294967295"),
        (("seed=-1",), "seed must be a whole number from 0 to 4294967295"),
        (("seed=1e20",), "seed must be a whole number from 0 to 4294967295"),
        (("hydra.run.dir=/proc/cnnexp/run",), "cannot create /proc/cnnexp"),
        # The test image comes from data's test split: the tiny run's sizes, not 70,000 rendered digits.
        (
            ("task=kernels", *TINY[:3], "kernels.out=/proc/cnnexp"),
            "kernels.out=/proc/cnnexp: cannot write the pictures there (",
        ),
    ],
    ids=[
        "missing_key",
        "loop_in_folder_name",
        "loop",
        "bad_override",
        "seed_fraction",
        "seed_text",
        "seed_negative",
        "seed_huge",
        "unwritable",
        "kernels_out",
    ],  # fmt: skip
)
@pytest.mark.slow
def test_config_mistakes_are_one_paragraph_and_exit_2(cli, args: tuple[str, ...], message: str) -> None:  # noqa: ANN001
    code, err = cli("task=summary", *args)
    assert code == 2 and one_paragraph(err).startswith(message)


def test_outputs_being_a_file_is_a_clear_error(cli, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "outputs").write_text("not a folder")
    code, err = cli("task=summary")
    paragraph = one_paragraph(err)
    assert code == 2 and paragraph.startswith("cannot create outputs/runs/")
    assert "(outputs is a file, not a folder); cnnexp writes each run under outputs/ where you start it" in paragraph


def test_a_model_name_cannot_lead_out_of_outputs(cli, tmp_path: Path) -> None:  # noqa: ANN001
    code, _ = cli("task=summary", "model.name=../../../escaped")
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
    assert run.name.split("_")[2] == "escaped" and (run / "metrics.json").is_file()


@pytest.mark.parametrize("task", ["train", "lr_find"])
def test_a_model_mistake_stops_a_run_before_its_task_and_its_folder(cli, tmp_path: Path, task: str) -> None:  # noqa: ANN001
    # Found from the config alone, as the sweep's preflight finds it: the task's module (which imports Lightning)
    # is never asked for, and no folder is taken to record a run that never started.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifecycle, "task_named", lambda name: pytest.fail(f"task {name} was reached"))
        code, err = cli(f"task={task}", "model.layers.conv1.F=99", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2 and one_paragraph(err).startswith(
        "model.layers.conv1 (layer 0, conv): filter F=99 is larger than its 28×28 input: (N − F + 2P)/S + 1 = "
        "(28 − 99 + 0)/1 + 1 < 1; resize the input to at least 110×110"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_finished_run_is_not_written_over(cli, tmp_path: Path) -> None:  # noqa: ANN001
    run = tmp_path / "run"
    assert cli("task=summary", f"hydra.run.dir={run}")[0] == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, err = cli("task=summary", f"hydra.run.dir={run}")
    assert code == 2 and one_paragraph(err).startswith(f"{run} holds a finished run; cnnexp never writes over a run.")
    code, err = cli("task=summary", "seed=7", f"hydra.run.dir={run}")
    assert code == 2 and one_paragraph(err).startswith(f"{run} holds a finished run with other settings (seed: 0 -> 7)")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert cli("task=summary", "seed=7", f"hydra.run.dir={run}", "overwrite=true")[0] == 0
    assert "seed: 7" in (run / ".hydra" / "config.yaml").read_text()


def test_a_running_runs_folder_is_refused(cli, tmp_path: Path) -> None:  # noqa: ANN001
    run = tmp_path / "run"
    run.mkdir()
    other = FolderLock(run / LOCK)
    assert other.acquire()
    code, err = cli("task=summary", f"hydra.run.dir={run}", "overwrite=true")
    other.release()
    assert code == 2 and one_paragraph(err).startswith(f"{run} is in use by a running run (pid ")
    assert sorted(p.name for p in run.iterdir()) == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("os.system", "Target 'os.system' is blocklisted because it allows config data to control executable behavior "
                      "or belongs to an execution-capable target family. It cannot be authorized with "
                      "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE"),
        ("no.such.Callback", "Error locating target 'no.such.Callback'"),
    ],
    ids=["blocklisted", "missing"],
)  # fmt: skip
def test_a_hydra_callback_hydra_cannot_build_is_one_paragraph(cli, tmp_path: Path, target: str, reason: str) -> None:  # noqa: ANN001
    # Hydra builds hydra.callbacks itself, before cnnexp's task runs: its error comes out of Hydra's runner.
    code, err = cli("task=summary", f"+hydra.callbacks.x._target_={target}")
    assert code == 2 and one_paragraph(err) == (
        f"hydra.callbacks.x: Hydra cannot build it: {reason}. Fix its `_target_` or arguments, or drop it "
        f"(~hydra.callbacks.x on the command line, or the entry in your config)."
    )
    assert not (tmp_path / "outputs").exists()  # stopped before any run folder was made


def test_a_hydra_instantiation_error_without_a_key_is_one_paragraph_too() -> None:
    err = InstantiationException(
        "Error locating target 'x.Y', set env var HYDRA_FULL_ERROR=1 to see chained exception."
    )
    assert explain(err) == (
        "Hydra cannot build a class the config names under hydra.*: Error locating target 'x.Y'. Fix its `_target_` "
        "or arguments.",
        2,
    )
