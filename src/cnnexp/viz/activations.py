"""A grid of every registered activation and its derivative.

Regenerate the docs picture with `python -m cnnexp.viz.activations [PATH]`.
"""

from __future__ import annotations

import argparse
import math
import pathlib

import torch

from cnnexp.model.activations import ACTIVATIONS, make_activation

DEFAULT_PATH = pathlib.Path("docs/img/activations.png")
X_RANGE = (-5.0, 5.0)
NCOLS = 5
PANEL_INCHES = (3.0, 2.5)
DPI = 100


def curve(name: str, points: int = 1001) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x, f(x) and f'(x) for activation `name`, the derivative by autograd through the registry's module.

    Going through the very module the models use means the step's panel shows the straight-through
    gradient training sees, not its true (zero) derivative.
    """
    x = torch.linspace(*X_RANGE, points, dtype=torch.float64, requires_grad=True)
    y = make_activation(name, "plot_activations")(x)
    (dy,) = torch.autograd.grad(y.sum(), x)  # elementwise f, so d(sum f)/dx_i = f'(x_i)
    return x.detach(), y.detach(), dy


def figure_size(count: int) -> tuple[float, float]:
    """Figure size in inches for `count` panels."""
    rows = math.ceil(count / NCOLS)
    return NCOLS * PANEL_INCHES[0], rows * PANEL_INCHES[1]


def plot_activations(path: pathlib.Path) -> None:
    """Draw every registered activation with its derivative on x in [-5, 5] into the PNG `path`."""
    # Agg is chosen here, for this figure only: no pyplot, so neither importing this module nor
    # calling this function switches the process-wide matplotlib backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = ACTIVATIONS.names()
    fig = Figure(figsize=figure_size(len(names)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(math.ceil(len(names) / NCOLS), NCOLS, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        x, y, dy = curve(name)
        ax.axhline(0, color="0.8", lw=0.6)
        ax.axvline(0, color="0.8", lw=0.6)
        ax.plot(x, y, color="C0", lw=1.5, label="f(x)")
        ax.plot(x, dy, color="C3", lw=1.2, ls="--", label="f'(x) by autograd")
        ax.set_title(f"{name}: {ACTIVATIONS.get(name, 'plot_activations').formula}", fontsize=8)
        ax.set_xlim(*X_RANGE)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Activations (solid) and derivatives (dashed; step: its straight-through gradient)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)


def main(argv: list[str] | None = None) -> int:
    """`python -m cnnexp.viz.activations [PATH]`: write the picture, print where."""
    parser = argparse.ArgumentParser(prog="python -m cnnexp.viz.activations", description=__doc__)
    parser.add_argument("path", nargs="?", type=pathlib.Path, default=DEFAULT_PATH)
    path = parser.parse_args(argv).path
    plot_activations(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
