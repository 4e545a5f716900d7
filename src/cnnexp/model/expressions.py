"""Arithmetic on parameters, without eval: `$filters * 4`, `make_divisible(32 * $width, 8)`, `ceil(3 * $depth)`.

A tiny grammar, parsed here into a tree of tuples and evaluated on numbers:

    expr    := term (("+" | "-") term)*
    term    := factor (("*" | "/" | "//") factor)*
    factor  := ("-" | "+") factor | NUMBER | "$" NAME | FUNCTION "(" expr ("," expr)* ")" | "(" expr ")"

The functions round as torchvision's model code does: `make_divisible(v, d)` is its `_make_divisible` (the
multiple of d nearest v, at least d, never more than 10% below v), `round` is Python's (halves to even).
A whole result is an int (`$filters * 0.5` with filters = 16 is 8), any other a float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Union

from cnnexp.errors import ConfigError

Node = Union[float, str, tuple]  # a number, a parameter's name, or (operator or function, operands...)
TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|\$([A-Za-z_]\w*)|([A-Za-z_]\w*)|(//|[-+*/(),]))")
LARGEST = 2**31 - 1  # past a 32-bit size no layer takes it: also stops 10 ** 10 ** 10 from being computed


def make_divisible(value: float, divisor: float, min_value: float | None = None) -> int:
    """torchvision.models._utils._make_divisible: the multiple of `divisor` nearest `value`, at least min_value."""
    low = divisor if min_value is None else min_value
    new = max(low, int(value + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * value else new)


FUNCTIONS: dict[str, tuple[Callable[..., float], tuple[int, int]]] = {  # name -> (function, (fewest, most) arguments)
    "make_divisible": (make_divisible, (2, 3)),
    "round": (round, (1, 1)),
    "floor": (math.floor, (1, 1)),
    "ceil": (math.ceil, (1, 1)),
    "min": (min, (2, 8)),
    "max": (max, (2, 8)),
}
OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
}  # fmt: skip


def is_expression(text: Any) -> bool:
    """A string with a `$` in it that is not one whole `$name`, or a call of one of the functions."""
    if not isinstance(text, str):
        return False
    return ("$" in text and not re.fullmatch(r"\$[A-Za-z_]\w*", text)) or bool(
        re.match(rf"\s*({'|'.join(FUNCTIONS)})\s*\(", text)
    )


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(text.rstrip()):
        match = TOKEN.match(text, at)
        if not match:
            raise ConfigError(f"{where}: `{text}` is not an expression: cannot read {text[at:].strip()!r}. {SYNTAX}")
        number, param, name, symbol = match.groups()
        kind = "num" if number else "param" if param else "name" if name else "op"
        out.append((kind, number or param or name or symbol))
        at = match.end()
    return out


MAX_TOKENS = 100  # numbers, names and symbols in one expression: a width formula needs a dozen
SYNTAX = (f"Expressions take numbers, $parameters, + - * / //, parentheses and {', '.join(FUNCTIONS)}; "
          f"e.g. `$filters * 4` or \"make_divisible(32 * $width, 8)\" (quoted in YAML where it holds a comma).")  # fmt: skip


def parse(text: str, where: str) -> Node:
    """The expression's tree; a ConfigError naming `where` and the grammar when it is not one."""
    tokens = _tokens(text, where)
    if len(tokens) > MAX_TOKENS:  # the parser recurses per parenthesis and sign: Python's stack is the limit
        raise ConfigError(
            f"{where}: `{text[:60]}...` is too long for an expression ({len(tokens)} parts, at most {MAX_TOKENS}); "
            f"compute the value in parts, with model.params or a block's params."
        )
    at = [0]

    def fail(why: str) -> ConfigError:
        return ConfigError(f"{where}: `{text}` is not an expression: {why}. {SYNTAX}")

    def peek() -> tuple[str, str] | None:
        return tokens[at[0]] if at[0] < len(tokens) else None

    def take(value: str | None = None) -> tuple[str, str]:
        token = peek()
        if token is None or (value is not None and token[1] != value):
            raise fail(f"expected {value!r}" if value else "it ends too early")
        at[0] += 1
        return token

    def chain(operand: Callable[[], Node], ops: tuple[str, ...]) -> Node:
        node = operand()
        while (token := peek()) and token[0] == "op" and token[1] in ops:
            node = (take()[1], node, operand())
        return node

    def factor() -> Node:
        kind, value = take()
        if kind == "op" and value in "+-" and value:
            return ("-", 0.0, factor()) if value == "-" else factor()
        if kind == "num":
            return float(value)
        if kind == "param":
            return value
        if kind == "name" and value in FUNCTIONS:
            take("(")
            args = [expr()]
            while peek() == ("op", ","):
                take(",")
                args.append(expr())
            take(")")
            low, high = FUNCTIONS[value][1]
            if not low <= len(args) <= high:
                count = (
                    f"{low} argument"
                    if low == high == 1
                    else f"{low} arguments"
                    if low == high
                    else f"{low} to {high} arguments"
                )
                raise fail(f"{value} takes {count}, got {len(args)}")
            return (value, *args)
        if (kind, value) == ("op", "("):
            node = expr()
            take(")")
            return node
        known = f"; its functions are {', '.join(FUNCTIONS)}" if kind == "name" else ""
        raise fail(f"unexpected {value!r}{known}{'; a parameter is written $' + value if kind == 'name' else ''}")

    def expr() -> Node:
        return chain(lambda: chain(factor, ("*", "/", "//")), ("+", "-"))

    node = expr()
    if peek() is not None:
        raise fail(f"unexpected {peek()[1]!r} after a whole expression")  # type: ignore[index]
    return node


def names(node: Node) -> list[str]:
    """The parameters an expression uses, in order."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, tuple):
        return [name for part in node[1:] for name in names(part)]
    return []


def evaluate(text: str, values: Mapping[str, Any], where: str) -> int | float:
    """The value of expression `text` with `values` for its parameters: an int when whole, else a float."""

    def value(node: Node) -> float:
        if isinstance(node, str):
            got = values[node]
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                raise ConfigError(f"{where}: `{text}` needs a number for ${node}, got {got!r}.")
            return bounded(got)
        if isinstance(node, float):
            return bounded(node)
        head, *args = node
        numbers = [value(arg) for arg in args]
        if head in ("/", "//") and numbers[1] == 0:
            raise ConfigError(f"{where}: `{text}` divides by zero.")
        if head == "make_divisible" and numbers[1] <= 0:
            raise ConfigError(f"{where}: `{text}`: make_divisible needs a divisor above 0, got {numbers[1]:g}.")
        return bounded(FUNCTIONS[head][0](*numbers) if head in FUNCTIONS else OPERATORS[head](*numbers))

    def bounded(number: float) -> float:
        if not math.isfinite(number) or abs(number) > LARGEST:
            raise ConfigError(f"{where}: `{text}` gives {number:g} on the way, past any size a layer takes.")
        return number

    result = value(parse(text, where))
    return int(result) if float(result).is_integer() else float(result)


def explained(text: str, values: Mapping[str, Any], result: Any) -> str:
    """'`$filters * 0.5` = 7.5 with filters = 15': an expression, its value and what it was computed from."""
    used = dict.fromkeys(names(parse(text, "")))
    given = ", ".join(f"{name} = {values[name]!r}" for name in used if name in values)
    return f"`{text}` = {result!r}" + (f" with {given}" if given else "")
