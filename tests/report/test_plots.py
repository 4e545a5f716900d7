"""The plots are real PNGs of a readable size, drawn whether or not any job logged a curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cnnexp.report.build import Report, write_report


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
