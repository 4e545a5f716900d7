"""checkpoint/carry.py: a ModelCheckpoint state from another folder, carried into the resumed run's folder."""

from __future__ import annotations

from pathlib import Path

from cnnexp.checkpoint.carry import carried


def _state(old: Path) -> dict[str, object]:
    best, last = str(old / "epoch001.ckpt"), str(old / "last.ckpt")
    return {"monitor": "val/acc", "dirpath": str(old), "best_model_path": best, "kth_best_model_path": best, "last_model_path": last,
            "best_model_score": 0.9, "best_k_models": {best: 0.9}, "kth_value": 0.9}  # fmt: skip


def test_the_files_are_linked_into_the_new_folder_and_the_state_names_them(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new" / "checkpoints"
    old.mkdir()
    (old / "epoch001.ckpt").write_bytes(b"best")
    (old / "last.ckpt").write_bytes(b"last")
    state = carried(_state(old), new)
    assert state == {
        "monitor": "val/acc", "dirpath": str(new), "best_model_path": str(new / "epoch001.ckpt"),
        "kth_best_model_path": str(new / "epoch001.ckpt"), "last_model_path": "",
        "best_model_score": 0.9, "best_k_models": {str(new / "epoch001.ckpt"): 0.9}, "kth_value": 0.9,
    }  # fmt: skip
    # The last file may hold a later epoch than the checkpoint resumed from: the new run writes its own.
    assert (
        sorted(p.name for p in new.iterdir()) == ["epoch001.ckpt"] and (new / "epoch001.ckpt").read_bytes() == b"best"
    )
    (new / "epoch001.ckpt").unlink()  # what Lightning does to a checkpoint it replaces: the old run keeps its own
    assert (old / "epoch001.ckpt").read_bytes() == b"best"


def test_other_ranks_get_the_same_paths_and_write_nothing(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "epoch001.ckpt").write_bytes(b"best")
    (old / "last.ckpt").write_bytes(b"last")
    assert carried(_state(old), new, link=False)["best_model_path"] == str(new / "epoch001.ckpt")
    assert not new.exists()


def test_a_state_whose_file_is_gone_is_left_to_lightning(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "last.ckpt").write_bytes(b"last")  # the best checkpoint was deleted by hand
    state = _state(old)
    assert carried(state, tmp_path / "new") is state and not (tmp_path / "new").exists()


def test_a_callback_without_a_monitor_carries_no_file(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "last.ckpt").write_bytes(b"last")  # what `callbacks.last` keeps: the latest epoch, not a best
    state = {"monitor": None, "dirpath": str(old), "best_model_path": str(old / "last.ckpt"), "best_k_models": {},
             "kth_best_model_path": "", "last_model_path": "", "best_model_score": None}  # fmt: skip
    assert carried(state, tmp_path / "new") == {
        **state, "dirpath": str(tmp_path / "new"), "best_model_path": "", "kth_best_model_path": "",
    }  # fmt: skip
    assert not any((tmp_path / "new").iterdir())
