"""The model summary: one row per layer, blocks and branches indented under their totals, as text or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnexp.config.fields import fmt_shape
from cnnexp.model.builder import plan
from cnnexp.model.init import describe_init
from cnnexp.model.layers.base import Row
from cnnexp.model.spec import ModelSpec

HEADERS = ("#", "name", "type", "F/S/P", "output C×H×W", "params", "mult-adds", "activation", "note")
INDENT = "  "  # per level of a block, a repetition, a branch or a shortcut's projection


@dataclass(frozen=True)
class Summary:
    spec: ModelSpec
    rows: list[Row]  # the top-level layers; a group's row holds its subtree's totals and its rows below

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def activations(self) -> list[str]:
        """The functions the activation layers apply, each once, in the order they first appear."""
        found = [row.activation for top in self.rows for _, row in top.walk() if row.activation and not row.weighted]
        return list(dict.fromkeys(found))

    @property
    def activation(self) -> str:
        """What the model applies: model.activation, the one function every activation layer pins, or 'mixed: ...'."""
        used = self.activations
        if len(used) > 1:
            return f"mixed: {', '.join(used)}"
        return used[0] if used else self.spec.activation

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.spec.name,
            "input": list(self.spec.input_shape),
            "num_classes": self.spec.num_classes,
            "activation": self.activation,
            "init": self.spec.init,
            "params": self.params,
            "trainable_params": self.trainable,
            "macs": self.macs,
            "layers": [self._row_dict(r) for r in self.rows],
        }

    def _row_dict(self, r: Row) -> dict[str, Any]:
        data: dict[str, Any] = {"index": r.index, "name": r.name, "path": r.path, "type": r.type, "geometry": r.geometry,
                "input": list(r.in_shape), "output": list(r.out_shape), "params": r.params,
                "trainable_params": r.trainable, "macs": r.macs, "activation": r.activation, "note": r.note}  # fmt: skip
        if r.weighted:
            data["init"] = describe_init(self.spec.init, r.activation)
        if r.children:
            data["layers"] = [self._row_dict(child) for child in r.children]
        return data

    def table(self) -> str:
        c, h, w = self.spec.input_shape
        cells: list[tuple[str, ...]] = [HEADERS, ("", "input", "", "", f"{c}×{h}×{w}", "", "", "", "")]
        cells += [_cells(depth, r) for top in self.rows for depth, r in top.walk()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
        right = {0, 5, 6}  # numbers line up on the right
        lines = ["  ".join(s.rjust(wd) if i in right else s.ljust(wd) for i, (s, wd) in enumerate(zip(row, widths))).rstrip()
                 for row in cells]  # fmt: skip
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join([f"model {self.spec.name}  (activation {self.activation})", *lines, self.totals()])

    def totals(self) -> str:
        frozen = self.params - self.trainable
        frozen_text = f", {frozen:,} frozen" if frozen else ""
        return (
            f"total params: {self.params:,} ({_short(self.params)}), trainable {self.trainable:,}{frozen_text}\n"
            f"mult-adds per image: {self.macs:,} ({_short(self.macs)})  [conv and linear layers]\n"
            f"init: {self.spec.init}  [→ the activation a conv/linear layer's output reaches first, which its init suits]"
        )


def _cells(depth: int, r: Row) -> tuple[str, ...]:
    index = str(r.index) if depth == 0 else ""
    activation = f"→ {r.activation}" if r.weighted else r.activation
    return (index, INDENT * depth + r.name, r.type, r.geometry, fmt_shape(r.out_shape), f"{r.params:,}", f"{r.macs:,}",
            activation, r.note)  # fmt: skip


def summarize(spec: ModelSpec) -> Summary:
    return Summary(spec, plan(spec))


def _short(n: int) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)
