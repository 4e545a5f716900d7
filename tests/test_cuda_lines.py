"""tests/cuda_lines.py, CI's check that every GPU-only line ran: which lines it counts, and what it says about a
module measured by coverage in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cuda_lines import gpu_statements
from support import ROOT

MODULE = textwrap.dedent('''\
    """A device's name: "cuda" in a docstring is no code."""
    import torch

    NAMES = ("gpu", "cuda")


    def name(device: torch.device) -> str:
        if device.type == "cuda":
            found = torch.cuda.get_device_name(device)
            return found
        elif device.type == "mps":
            return "apple"
        total = (1 +
                 torch.cuda.device_count())
        return "cpu"
''')


def test_the_lines_that_mention_cuda_and_the_lines_they_guard() -> None:
    # 4: the names; 8: the test; 9-10: its body; 13: a statement whose second line mentions torch.cuda. Not the
    # docstrings, not the `elif` side (11-12), not what follows the `if`.
    assert gpu_statements(MODULE) == {4, 8, 9, 10, 13}


def test_src_has_gpu_only_lines_to_check() -> None:
    counted = {path.name: len(gpu_statements(path.read_text())) for path in (ROOT / "src").rglob("*.py")}
    assert counted["throughput.py"] == 2 and counted["memory.py"] == 5  # `if device.type == "cuda":` + its line


def _measured(tmp_path: Path, devices: str) -> subprocess.CompletedProcess[str]:
    """The module run under coverage (branches) in a process of its own for `devices`, then the check on it."""
    (tmp_path / "pkg").mkdir(exist_ok=True)
    (tmp_path / "pkg" / "names.py").write_text(MODULE)
    (tmp_path / "use.py").write_text(
        "import sys, torch\nfrom unittest import mock\nfrom pkg import names\n"
        "with mock.patch.object(torch.cuda, 'get_device_name', lambda d: 'fake'):\n"
        "    for d in sys.argv[1].split(','):\n        names.name(torch.device(d))\n"
    )
    # Not measured by the coverage of this test session, if there is one: this process measures itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    data = tmp_path / f".coverage-{devices}"
    measure = [
        sys.executable,
        "-m",
        "coverage",
        "run",
        "--branch",
        f"--data-file={data}",
        "--source=pkg",
        "use.py",
        devices,
    ]
    subprocess.run(measure, cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    check = [sys.executable, str(ROOT / "tests" / "cuda_lines.py"), f"--data-file={data}", "--src=pkg"]
    return subprocess.run(check, cwd=tmp_path, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_gpu_lines_that_never_ran_are_listed_by_file_and_line(tmp_path: Path) -> None:
    checked = _measured(tmp_path, "cpu")
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [
        "3 of 5 GPU-only statements of pkg/ were not fully tested (fake GPUs for a test: the fake_cuda fixture, "
        "tests/cuda_site/fake_cuda.py):",
        '  pkg/names.py:8  never went on to line 9: if device.type == "cuda":',
        "  pkg/names.py:9  never ran: found = torch.cuda.get_device_name(device)",
        "  pkg/names.py:10  never ran: return found",
    ]  # 13 ran: reached on the CPU


@pytest.mark.slow
def test_every_way_through_passes(tmp_path: Path) -> None:
    checked = _measured(tmp_path, "cuda:0,cpu")
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout == "cuda_lines: all 5 GPU-only statements of pkg/ ran, every way they branch\n"


def test_no_coverage_data_says_how_to_make_it(tmp_path: Path) -> None:
    check = [sys.executable, str(ROOT / "tests" / "cuda_lines.py"), f"--data-file={tmp_path / 'none'}"]
    checked = subprocess.run(check, cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 2
    assert (
        checked.stderr
        == f"cuda_lines: no coverage data at {tmp_path / 'none'}: run the tests with --cov first (.ci/run)\n"
    )
