"""experiment=classic_cnns: the four classic CNNs, on digits by default and on CIFAR-10 by override.

Each model of the preset trains one smoke step in tests/sweep/test_experiments.py (every value of every sweep
axis); here, what the preset compares and that each model fits both datasets, with the documented figures.
"""

from __future__ import annotations

import pytest
from hydra import compose
from support import Compose

from cnnexp.model.summary import summarize
from cnnexp.run import read_run

# docs/layers.md's table: parameters on 1×28×28 digits and on 3×32×32 CIFAR-10, 10 classes
FIGURES = {"lenet5": (176_050, 267_050), "alexnet_small": (1_421_674, 1_423_274), "vgg_small": (584_170, 814_122),
           "resnet20": (272_186, 272_474)}  # fmt: skip


def test_the_preset_compares_the_four_with_three_seeds(compose_cfg: Compose) -> None:
    sweep = compose(
        config_name="config", overrides=["experiment=classic_cnns"], return_hydra_config=True
    ).hydra.sweeper.params
    assert sweep["model"].split(",") == list(FIGURES) and sweep["seed"] == "1,2,3"


@pytest.mark.parametrize("name", list(FIGURES))
@pytest.mark.parametrize(("data", "shape", "column"), [("digits", (1, 28, 28), 0), ("cifar10", (3, 32, 32), 1)])
def test_each_model_fits_digits_and_cifar10(
    compose_cfg: Compose, name: str, data: str, shape: tuple, column: int
) -> None:
    spec = read_run(compose_cfg("experiment=classic_cnns", f"data={data}", f"model={name}")).model
    assert spec.input_shape == shape and summarize(spec).params == FIGURES[name][column]
