"""Arithmetic on parameters: the grammar (parsed, never eval'd), torchvision's rounding, model.params as a width
multiplier, and an expression that gives no whole number as one paragraph naming the layer, the expression, its value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import spec_of
from support import Compose
from torchvision.models._utils import _make_divisible

from cnnexp.errors import ConfigError
from cnnexp.model.builder import plan
from cnnexp.model.expressions import evaluate, make_divisible, parse
from cnnexp.model.spec import parse_model

HEAD = {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}


@pytest.mark.parametrize(("text", "values", "result"), [
    ("$filters * 4", {"filters": 64}, 256), ("$w * 0.5", {"w": 15}, 7.5), ("(1 + $a) * -2", {"a": 2}, -6),
    ("$a // 4 - 1 / 4", {"a": 9}, 1.75), ("make_divisible(32 * $width, 8)", {"width": 0.75}, 24),
    ("max(1, $c // 4)", {"c": 3}, 1), ("ceil(3 * $depth)", {"depth": 1.1}, 4), ("round(2.5) + floor(-0.5)", {}, 1),
    ("min(3, 1.5e1, $x)", {"x": 2}, 2), ("make_divisible(20, 8, 16)", {}, 24),
])  # fmt: skip
def test_the_grammar_computes(text: str, values: dict[str, Any], result: float) -> None:
    got = evaluate(text, values, "where")
    assert got == result and type(got) is type(result)  # a whole result is an int


def test_make_divisible_is_torchvisions() -> None:
    for value in [0.5 * n for n in range(1, 400)]:
        for divisor in (4, 8, 16):
            assert make_divisible(value, divisor) == _make_divisible(value, divisor), (value, divisor)


@pytest.mark.parametrize(("text", "message"), [
    ("$a *", r"where: `\$a \*` is not an expression: it ends too early. Expressions take numbers, \$parameters, \+ - \* / //, "),
    ("2 ** 3", r"`2 \*\* 3` is not an expression: unexpected '\*'"),
    ("__import__('os')", r"`__import__\('os'\)` is not an expression: cannot read \"'os'\)\""),
    ("exp(1)", r"is not an expression: unexpected 'exp'; its functions are make_divisible, round, floor, ceil, min, max; a parameter is written \$exp"),
    ("round(1, 2)", r"round takes 1 argument, got 2"), ("1 2", r"unexpected '2' after a whole expression"),
    ("$a.b", r"cannot read '.b'"),
])  # fmt: skip
def test_what_is_not_an_expression_is_refused_with_the_grammar(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text, "where")


@pytest.mark.parametrize(("text", "message"), [
    ("$a / 0", r"`\$a / 0` divides by zero"), ("$a * 1e300 * 1e300", r"past any size a layer takes"),
    ("$s * 2", r"`\$s \* 2` needs a number for \$s, got 'x'"), ("make_divisible(3, 0)", r"needs a divisor above 0"),
])  # fmt: skip
def test_what_cannot_be_computed_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate(text, {"a": 1, "s": "x"}, "where")


BOTTLENECK = {  # ResNet-50's bottleneck: the expansion to 4 × filters is computed, not written
    "params": {"filters": None},
    "layers": {"reduce": {"type": "conv", "filters": "$filters", "F": 1}, "conv": {"type": "conv", "filters": "$filters", "F": 3, "P": 1},
               "expand": {"type": "conv", "filters": "$filters * 4", "F": 1}},
}  # fmt: skip


def test_a_block_computes_its_widths_from_its_parameters() -> None:
    rows = plan(
        spec_of({"b": {"type": "bottleneck", "filters": 16}, **HEAD}, (3, 8, 8), blocks={"bottleneck": BOTTLENECK})
    )
    assert [row.out_shape[0] for row in rows[0].children] == [16, 16, 64]


def test_model_params_are_a_width_multiplier_for_every_stage(compose_cfg: Compose) -> None:
    cfg = {"name": "t", "input": {"channels": 3, "height": 8, "width": 8}, "num_classes": 10, "params": {"width": 1.0},
           "blocks": {"bottleneck": BOTTLENECK},
           "layers": {"stem": {"type": "conv", "filters": "make_divisible(32 * $width, 8)", "F": 3},
                      "b": {"type": "bottleneck", "filters": "make_divisible(16 * $width, 8)"}, **HEAD}}  # fmt: skip
    widths = lambda w: [r.out_shape[0] for r in plan(parse_model({**cfg, "params": {"width": w}}))[:2]]  # noqa: E731
    assert widths(1.0) == [32, 64] and widths(0.5) == [16, 32] and widths(0.3) == [16, 32] and widths(2.0) == [64, 128]
    spec = parse_model(cfg)
    assert parse_model(spec.to_dict()) == spec and spec.to_dict()["params"] == {"width": 1.0}


WIDTH_ERROR = (
    r"model.layers.b.expand.filters \(layer 2 of block half, conv; computed as `\$filters \* 0.5` = 7.5 with filters = 15\) "
    r"must be a whole number, but its expression gives 7.5; round it there: round\(...\), floor\(...\), or "
    r"make_divisible\(..., 8\) as torchvision rounds channel counts.$"
)
HALF = {
    "params": {"filters": None},
    "layers": {**BOTTLENECK["layers"], "expand": {"type": "conv", "filters": "$filters * 0.5", "F": 1}},
}


def test_an_expression_that_gives_no_whole_number_names_the_layer_the_expression_and_its_value() -> None:
    with pytest.raises(ConfigError, match=WIDTH_ERROR):
        parse_model({"name": "t", "input": {"channels": 3, "height": 8, "width": 8}, "num_classes": 10,
                     "blocks": {"half": HALF}, "layers": {"b": {"type": "half", "filters": 15}, **HEAD}})  # fmt: skip


def test_seven_and_a_half_channels_from_the_command_line_is_one_paragraph_and_exit_2(
    cli: Callable[..., tuple[int, str]],
) -> None:
    code, err = cli("task=summary", "model=mobilenet_v2", "+model.params.width=0.75",
                    "model.blocks.features.layers.0.filters=$width * 10")  # fmt: skip
    assert code == 2
    assert err.strip().count("\n") == 0 and err.startswith(
        "cnnexp: error: model.layers.features.0.0.filters (layer 0 of block conv_bn, conv; "
    )
    assert (
        "computed as `$width * 10` = 7.5 with width = 0.75) must be a whole number, but its expression gives 7.5" in err
    )


@pytest.mark.parametrize(("layers", "blocks", "message"), [
    ({"c": {"type": "conv", "filters": "$width * 2", "F": 1}}, None,
     r"model.layers.c.filters: '\$width' is not a parameter of the model \(model.params declares none\); declare it, e.g. "
     r"`model.params: \{width: 1.0\}`, or use it inside a block that declares it."),
    ({"b": {"type": "bottleneck", "filters": 4}}, {"bottleneck": {"params": {"filters": None}, "layers": {"c": {"type": "conv", "filters": "$filter * 2", "F": 1}}}},
     r"model.blocks.bottleneck.layers.c.filters: '\$filter' is not a parameter of block bottleneck"),
    ({"b": {"type": "bottleneck", "filters": 4}}, {"bottleneck": {"params": {"filters": None}, "layers": {"c": {"type": "conv", "filters": "$filters ^ 2", "F": 1}}}},
     r"model.blocks.bottleneck.layers.c.filters: `\$filters \^ 2` is not an expression: cannot read '\^ 2'"),
    ({"b": {"type": "bottleneck", "filters": 4}}, {"bottleneck": {"params": {"filters": None}, "layers": {"c": {"type": "conv", "filters": "$filters - 9", "F": 1}}}},
     r"model.layers.b.c.filters \(layer 0 of block bottleneck, conv; computed as `\$filters - 9` = -5 with filters = 4\) must be at least 1, got -5."),
])  # fmt: skip
def test_parameter_mistakes(layers: dict[str, Any], blocks: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(spec_of({**layers, **HEAD}, (3, 8, 8), **({"blocks": blocks} if blocks else {})))


def test_a_block_parameter_may_not_shadow_a_model_parameter() -> None:
    with pytest.raises(
        ConfigError, match=r"model.blocks.b.params: 'width' is a parameter of the model \(model.params.width\)"
    ):
        spec_of(
            {"b": {"type": "b", "width": 2}, **HEAD},
            params={"width": 1.0},
            blocks={"b": {"params": {"width": None}, "layers": {"c": {"type": "conv", "filters": "$width", "F": 1}}}},
        )


def test_deep_nesting_is_read_up_to_the_limit_and_refused_past_it() -> None:
    nested = "(" * 48 + "8 + $w" + ")" * 48  # 99 parts: within the limit, and within Python's stack
    assert evaluate(nested, {"w": 2}, "model.layers.c.filters") == 10
    with pytest.raises(
        ConfigError,
        match=r"^model\.layers\.c\.filters: `\({60}\.\.\.` is too long for an expression \(6001 parts, at most 100\); compute",
    ):
        parse("(" * 3000 + "8" + ")" * 3000, "model.layers.c.filters")
    with pytest.raises(ConfigError, match="is too long for an expression"):
        parse("-" * 5000 + "8", "model.layers.c.filters")  # signs recurse too
