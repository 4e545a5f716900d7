"""The report's plots: validation accuracy per epoch for every run, and test accuracy per choice.

Figures are drawn on a Figure with its own Agg canvas, never through pyplot: no global backend is chosen,
so the report runs headless and inside a process (Hydra's, a notebook's) that has its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnexp.report.collect import SEED_KEY, Sweep
from cnnexp.report.curves import Curve

DPI = 110
STYLES = ["-", "--", ":", "-."]  # one per seed, so that a choice's colour shows its repeats together
CHAR_INCHES = 0.07  # about the width of a character of the labels' "small" font (8.3 pt)


def plot_val_curves(sweep: Sweep, curves: Mapping[Path, Curve], path: Path) -> Path:
    """val_acc_curves.png: one line per job that logged val/acc, coloured by choice, dashed by seed."""
    labels = {job.folder: plot_label(sweep.label(job)) for job in sweep.jobs}
    # The legend sits beside the axes: the figure widens with its longest label, so the axes keep their 5.5 inches.
    fig, ax = _figure(width=5.5 + min(14.0, 0.6 + CHAR_INCHES * max(map(len, labels.values()), default=0)))
    colours = _colours(len(sweep.groups()))
    seeds = list(dict.fromkeys(job.overrides.get(SEED_KEY, "") for job in sweep.jobs))
    for colour, group in zip(colours, sweep.groups()):
        for job in group.jobs:
            curve = curves.get(job.folder) or []
            if curve:
                style = STYLES[seeds.index(job.overrides.get(SEED_KEY, "")) % len(STYLES)]
                epochs, accs = zip(*curve)
                ax.plot(epochs, accs, style, color=colour, marker="o", markersize=3, label=labels[job.folder])
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"Validation accuracy per epoch: {sweep.root.name}")
    # Whole epochs, not 1.2, 1.4, ...; min_n_ticks=1: one epoch is one tick, not 0.96, 0.98, ... around it.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if ax.lines:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: curves stay visible
    else:
        _no_data(ax, "no job logged val/acc")
    return _save(fig, path)


def plot_final_accuracy(sweep: Sweep, path: Path) -> Path:
    """final_accuracy.png: mean test accuracy per choice, std over seeds as error bars, each run as a dot."""
    groups = sweep.groups()
    names = [plot_label(g.label).replace(" ", "\n") for g in groups]  # one override per line under its bar
    widest = max((len(line) for name in names for line in name.splitlines()), default=0)
    fig, ax = _figure(width=max(6.0, 1.0 + max(0.8, 0.2 + CHAR_INCHES * widest) * len(groups)))
    for x, group in enumerate(groups):
        stat = group.stat("test_acc")
        if stat is None:
            ax.text(x, 0.02, "failed", ha="center", va="bottom", rotation=90, color="firebrick")
            continue
        ax.bar(x, stat.mean, width=0.6, yerr=stat.std if stat.n > 1 else None, capsize=4, color="tab:blue", alpha=0.75)
        runs = [float(job.value("test_acc")) for job in group.jobs if job.ok and job.value("test_acc") is not None]
        ax.plot([x] * len(runs), runs, "k.", markersize=5)
        ax.text(x, stat.mean + stat.std, f"{stat.mean:.3f}\nn={stat.n}", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(range(len(groups)), names, fontsize="small")
    over = "mean ± std over seeds" if sweep.seeded else "one run each"
    ax.set(ylabel="test accuracy", ylim=(0.0, 1.1), xlim=(-0.6, len(groups) - 0.4))
    ax.set_title(f"Test accuracy per choice ({over})")
    return _save(fig, path)


def plot_label(label: str) -> str:
    """`key=value ...` as a plot shows it: a float of many digits (an Optuna draw such as
    optimizer.lr=0.0012520653814999472) to 4 significant digits, so that labels fit; report.md keeps the value."""
    return " ".join(_short(part) for part in label.split(" "))


def _short(part: str) -> str:
    key, sep, value = part.partition("=")
    if not sep or len(value) <= 8 or not any(c in value for c in ".eE"):
        return part
    try:
        return f"{key}={float(value):.4g}"
    except ValueError:  # not a number: a path, a name
        return part


def _figure(width: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, 4.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, axis="y", alpha=0.3)
    return fig, ax


def _colours(n: int) -> list[tuple[float, ...]]:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")  # tight: the legend outside the axes is kept
    return path
