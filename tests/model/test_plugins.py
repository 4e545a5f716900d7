"""Layer types from a module of the user's own, named by `plugins`: summarised, built, initialised, trained and
exported like built-in ones; a duplicate name refused; a checkpoint that needs the module names it, unimported."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import check_rows
from support import TINY, Compose

from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build, plan
from cnnexp.model.layers import LAYERS
from cnnexp.model.plugins import snapshot
from cnnexp.model.summary import summarize
from cnnexp.run import read_run

MODULE = "cnnexp_test_swish"
SOURCE = '''
"""A learned swish, x·sigmoid(βx) with β learned per channel: a layer type cnnexp does not have."""
from dataclasses import dataclass

import torch
from torch import nn

from cnnexp.config import fields as fd
from cnnexp.model.layers import LAYERS, Inferred, LayerSpec, need_map, spec_field


class LearnedSwish(nn.Module):
    def __init__(self, channels: int, beta: float) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.full((channels, 1, 1), beta))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)


@LAYERS.register("learned_swish")
@dataclass(frozen=True)
class LearnedSwishSpec(LayerSpec):
    type_name = "learned_swish"
    beta: float = spec_field(fd.number(-100.0), 1.0)

    def infer(self, shape, place, strict):
        c, _, _ = need_map(shape, place)
        return Inferred(shape, c, c)  # one β per channel

    def build(self, shape):
        return LearnedSwish(shape[0], self.beta)
'''
USE = (
    "model.layers.act1.type=learned_swish",
    "+model.layers.act1.beta=2.0",
)  # lenet5's first activation, after conv1's 20 maps


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module written to a folder on sys.path; registries and sys.modules as they were afterwards."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    (tmp_path / "cnnexp_test_dup.py").write_text(
        "from cnnexp.model.layers import LAYERS\nLAYERS.register('conv')(object)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with snapshot():
        yield MODULE
    for name in (MODULE, "cnnexp_test_dup"):
        sys.modules.pop(name, None)


def test_a_users_layer_type_is_summarised_built_and_initialised_like_a_built_in_one(
    compose_cfg: Compose, plugin: str
) -> None:
    spec = read_run(compose_cfg(f"plugins=[{plugin}]", *USE)).model
    assert LAYERS.origin["learned_swish"] == plugin
    summary = summarize(spec)
    assert summary.params == 176_050 + 20 and "learned_swish" in summary.table()
    rows, net = plan(spec), build(spec)
    check_rows(rows, net, spec.input_shape)
    assert torch.equal(net.act1.beta, torch.full((20, 1, 1), 2.0))


@pytest.mark.slow
def test_it_trains_exports_and_its_checkpoint_names_the_module_it_needs(compose_cfg: Compose, plugin: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from cnnexp.app import run_job

    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))
    run_job(compose_cfg(*TINY, f"plugins=[{plugin}]", *USE, f"output_dir={tmp_path / 'run'}"))
    checkpoint = Path(json.loads((tmp_path / "run" / "metrics.json").read_text())["checkpoint"])
    run_job(compose_cfg("task=export", "format=torchscript", f"ckpt_path={checkpoint}", f"plugins=[{plugin}]",
                         f"output_dir={tmp_path / 'export'}"))  # fmt: skip
    assert list((tmp_path / "export").glob("*.pt"))
    with snapshot():  # as a process that never imported it
        sys.modules.pop(plugin)
        del LAYERS._entries["learned_swish"]
        with pytest.raises(ConfigError) as err:
            read_checkpoint(checkpoint)
    message = str(err.value)
    assert "unknown layer type 'learned_swish'" in message and "\n" not in message
    assert message.endswith(f"The run used plugins=[{plugin}], modules of its own layer types, and {plugin} is not loaded: "
                            f"cnnexp never imports a module that a file names; if you trust it, add plugins=[{plugin}] to "
                            f"the command line.")  # fmt: skip
    assert plugin not in sys.modules


def test_a_name_registered_twice_is_refused(compose_cfg: Compose, plugin: str) -> None:
    with pytest.raises(ConfigError, match=r"^plugins\[0\]=cnnexp_test_dup: layer type 'conv' is registered twice \(it is cnnexp's\); "
                                          r"give it a name of its own.$"):  # fmt: skip
        read_run(compose_cfg("plugins=[cnnexp_test_dup]"))
    with pytest.raises(KeyError, match=rf"layer type 'learned_swish' is registered twice \(it is {MODULE}'s\)"):
        read_run(compose_cfg(f"plugins=[{plugin}]"))
        LAYERS.register("learned_swish")(object)


@pytest.mark.parametrize(("value", "message"), [
    ("[no_such_module_x]", r"^plugins\[0\]=no_such_module_x: no module of that name on the Python path"),
    ("[a-b]", r"^plugins\[0\] must be a Python module name such as mypkg.layers, got 'a-b'."),
])  # fmt: skip
def test_plugin_mistakes(compose_cfg: Compose, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_run(compose_cfg(f"plugins={value}"))


def test_a_model_yaml_alone_names_no_module(compose_cfg: Compose) -> None:
    with pytest.raises(ConfigError, match=r"unknown layer type 'learned_swish'\. Known layer types: .*\.$"):
        read_run(compose_cfg(*USE))
