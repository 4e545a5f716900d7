"""The plots are real PNGs of a readable size, drawn whether or not any job logged a curve."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cnnexp.report.build import Report, write_report
from cnnexp.report.plots import plot_label


@pytest.mark.parametrize("name", ["val_acc_curves.png", "final_accuracy.png"])
def test_pngs_open_with_sensible_sizes(report: Report, fake_sweep: Path, name: str) -> None:
    with Image.open(fake_sweep / name) as image:
        image.load()
        assert image.format == "PNG"
        width, height = image.size
        assert 500 <= width <= 3000 and 300 <= height <= 2000
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert len(colours) > 50  # drawn on, not a blank canvas


def test_plots_without_any_curve_or_success(tmp_path: Path, fakes: Any) -> None:
    fakes.write_job(tmp_path / "0", 0, ["model=a"], {"status": "failed", "reason": "boom"}, [])
    fakes.write_job(tmp_path / "1", 1, ["model=b"], None, [])
    report = write_report(tmp_path)
    for path in report.files[-2:]:
        with Image.open(path) as image:
            assert image.size[0] >= 500


def test_long_drawn_values_are_shortened_in_plots_only() -> None:
    assert plot_label("optimizer.lr=0.0012520653814999472 data.batch_size=32 model.activation=swish") == (
        "optimizer.lr=0.001252 data.batch_size=32 model.activation=swish"
    )
    assert plot_label("model.layers.drop1.p=0.2300649112954666 optimizer.lr=1e-3") == (
        "model.layers.drop1.p=0.2301 optimizer.lr=1e-3"
    )
    kept = "data.root=/data/v1.2.34567 model=resnet18 seed=12345678901 optimizer.lr=0.125"
    assert plot_label(kept) == kept  # a path, a name, an integer and a short float stay as written


def test_an_optuna_search_plots_without_labels_squeezing_the_axes(tmp_path: Path, fakes: Any) -> None:
    # Four trials of experiment=lenet5_optuna as Optuna drew them (a real search's values, one epoch each).
    draws = [("0.0012520653814999472", 32, "swish", "0.2300649112954666"),
             ("0.0038322168504927897", 128, "elu", "0.5220072889480915"),
             ("0.009062263471261952", 32, "elu", "0.24879716399431415"),
             ("0.0003381514267820292", 32, "swish", "0.40909217946209003")]  # fmt: skip
    for num, (lr, batch, act, p) in enumerate(draws):
        overrides = [
            f"optimizer.lr={lr}",
            f"data.batch_size={batch}",
            f"model.activation={act}",
            f"model.layers.drop1.p={p}",
        ]
        fakes.write_job(tmp_path / str(num), num, overrides, {"status": "ok", "test_acc": 0.5}, [0.4 + num / 10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warned that the labels left the axes no room ("collapsed to zero")
        write_report(tmp_path)
