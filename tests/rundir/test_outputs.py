"""The files a task writes beside its run's record: each checked before any work, and recorded as the run's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cnnexp.errors import ConfigError
from cnnexp.rundir.outputs import check_output, reserve_outputs


def test_targets_are_recorded_with_those_the_run_recorded_before(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "running", "outputs": ["b.csv", 3]}))
    paths = reserve_outputs(tmp_path, ["net.onnx", "net.onnx.json"], "export", overwrite=False)
    assert paths == [tmp_path / "net.onnx", tmp_path / "net.onnx.json"]
    recorded = json.loads((tmp_path / "metrics.json").read_text())
    assert recorded == {"status": "running", "outputs": ["b.csv", "net.onnx", "net.onnx.json"]}


def test_a_file_there_already_is_refused_and_kept_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "net.onnx").write_text("mine")
    with pytest.raises(
        ConfigError, match=r"^task=export writes .*/net\.onnx, but a file of that name is there already"
    ):
        reserve_outputs(tmp_path, ["net.onnx"], "export", overwrite=False)
    assert not (tmp_path / "metrics.json").exists()  # refused before anything is recorded
    reserve_outputs(tmp_path, ["net.onnx"], "export", overwrite=True)
    assert (tmp_path / "net.onnx").read_text() == "mine"  # replaced by the task once its file is whole, not here


def test_a_dangling_link_is_a_file_there_already(tmp_path: Path) -> None:
    (tmp_path / "predictions.csv").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"predictions\.csv, but a file of that name is there already"):
        check_output(tmp_path / "predictions.csv", "predict", overwrite=False)


def test_a_target_in_a_folder_that_cannot_be_written_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as refused:
        reserve_outputs(tmp_path / "file", ["predictions.csv"], "predict", overwrite=True)
    assert str(refused.value) == (
        f"task=predict writes {tmp_path / 'file' / 'predictions.csv'}, but its folder {tmp_path / 'file'} cannot be "
        f"written to (it is not a folder); choose another folder for the run (hydra.run.dir=...)."
    )
    # Root may write anywhere, so a read-only folder is the access check saying no.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(ConfigError) as refused:
        check_output(tmp_path / "predictions.csv", "predict", overwrite=True)
    assert str(refused.value) == (
        f"task=predict writes {tmp_path / 'predictions.csv'}, but its folder {tmp_path} cannot be written to "
        f"(permission denied); choose another folder for the run (hydra.run.dir=...)."
    )
