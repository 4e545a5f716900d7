"""The model summary: one row per layer and exact totals, as a text table or as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnexp.fields import fmt_shape
from cnnexp.model.builder import Row, plan
from cnnexp.model.spec import ModelSpec

HEADERS = ("#", "name", "type", "F/S/P", "output C×H×W", "params", "mult-adds", "note")


@dataclass(frozen=True)
class Summary:
    spec: ModelSpec
    rows: list[Row]

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.spec.name,
            "input": list(self.spec.input_shape),
            "num_classes": self.spec.num_classes,
            "activation": self.spec.activation,
            "params": self.params,
            "trainable_params": self.trainable,
            "macs": self.macs,
            "layers": [
                {"index": r.index, "name": r.name, "type": r.type, "geometry": r.geometry, "input": list(r.in_shape),
                 "output": list(r.out_shape), "params": r.params, "trainable_params": r.trainable, "macs": r.macs,
                 "note": r.note}
                for r in self.rows
            ],
        }  # fmt: skip

    def table(self) -> str:
        c, h, w = self.spec.input_shape
        cells = [HEADERS, ("", "input", "", "", f"{c}×{h}×{w}", "", "", "")]
        cells += [
            (str(r.index), r.name, r.type, r.geometry, fmt_shape(r.out_shape), f"{r.params:,}", f"{r.macs:,}", r.note)
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
        right = {0, 5, 6}  # numbers line up on the right
        lines = ["  ".join(s.rjust(wd) if i in right else s.ljust(wd) for i, (s, wd) in enumerate(zip(row, widths))).rstrip()
                 for row in cells]  # fmt: skip
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join([f"model {self.spec.name}  (activation {self.spec.activation})", *lines, self.totals()])

    def totals(self) -> str:
        frozen = self.params - self.trainable
        frozen_text = f", {frozen:,} frozen" if frozen else ""
        return (
            f"total params: {self.params:,} ({_short(self.params)}), trainable {self.trainable:,}{frozen_text}\n"
            f"mult-adds per image: {self.macs:,} ({_short(self.macs)})  [conv and linear layers]"
        )


def summarize(spec: ModelSpec) -> Summary:
    return Summary(spec, plan(spec))


def _short(n: int) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)
