"""cnnexp as an installed tool: a wheel built from this tree, installed into a fresh virtual environment, runs
from a folder that is not the repository and finds its shipped configs.

The fresh environment reuses the heavy packages already installed for the tests (torch, Lightning, ...)
through a .pth file instead of downloading them again: only cnnexp itself comes from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from support import ROOT

TOP_SKIP = {".git", ".venv", "outputs", "data", "build", "dist", ".pytest_cache", ".hypothesis"}  # what runs leave
ANY_SKIP = shutil.ignore_patterns("*.egg-info", "__pycache__", ".coverage*")  # .coverage*: pytest --cov's data


def _skip(folder: str, names: list[str]) -> set[str]:
    return set(ANY_SKIP(folder, names)) | (TOP_SKIP & set(names) if Path(folder) == ROOT else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of this tree (building in place would leave build/ and egg-info in the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=_skip)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp / "dist"),
        str(source),
    ]
    subprocess.run(pip, check=True, capture_output=True, text=True, timeout=300)
    (built,) = (tmp / "dist").glob("cnnexp-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the wheel installed, and this environment's packages visible below it."""
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    # A .pth line adds the directory itself; the .pth files inside it (this checkout's editable install) stay inert.
    Path(purelib, "heavy_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        str(wheel),
    ]
    # Without PYTHONPATH: pip would take a src/ on it (with its egg-info) for cnnexp already installed, and skip it.
    subprocess.run(install, check=True, capture_output=True, text=True, timeout=300, env=_without_checkout())
    return folder


def _without_checkout() -> dict[str, str]:
    """This environment without the variables that put this checkout on the path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run_in(folder: Path, venv: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """A command of the venv, run from `folder`, with nothing of this checkout on the path."""
    env = _without_checkout()
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", CNNEXP_DATA=str(folder / "data"))
    return subprocess.run(list(command), cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_the_wheel_ships_every_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"cnnexp/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert shipped <= names and "cnnexp/conf/config.yaml" in names
    assert "cnnexp/schemas/library.py" in names and "hydra_plugins/cnnexp_sweepers/__init__.py" in names


@pytest.mark.slow
def test_the_installed_tool_runs_from_any_folder(venv: Path, tmp_path: Path) -> None:
    where = run_in(tmp_path, venv, "python", "-c", "import cnnexp; print(cnnexp.__file__); print(cnnexp.CONF_DIR)")
    module, conf = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(conf).is_relative_to(venv), where.stdout

    summary = run_in(tmp_path, venv, "cnnexp", "task=summary", "model=alexnet", "model.num_classes=1000")
    assert summary.returncode == 0, summary.stderr[-2000:]
    assert "total params: 60,965,224 (61.0 M), trainable 60,965,224" in summary.stdout

    tiny = ("data.train_size=400", "data.val_size=100", "data.test_size=100", "trainer.max_epochs=1",
            "trainer.limit_train_batches=3", "trainer.enable_progress_bar=false", "hydra.run.dir=run")  # fmt: skip
    train = run_in(tmp_path, venv, "python", "-m", "cnnexp", *tiny)
    assert train.returncode == 0, train.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["test_images"] == 100
    assert "Tasks (task=NAME):" in run_in(tmp_path, venv, "cnnexp", "--help").stdout
