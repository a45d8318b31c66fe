"""Shared figure helpers for the studio's pages: sizes (SCALE, TEXT_PX, PT), one ordinary matplotlib figure per
chart (:func:`new_figure`), PNG/SVG export (:func:`figure_bytes`), and the charts other pages draw (summary, steps,
training curves, a Real episode's sheet). The toy's decision-boundary panels are in :mod:`app.toy_plots`.
"""

from __future__ import annotations

import io
import math

import numpy as np

# One colour per method across the studio, told apart in colour and in grey (Okabe-Ito: green, orange, purple).
METHOD_COLOURS = {"hypermaml": "#009e73", "maml": "#d55e00", "protonet": "#7b3294"}
TITLE_PX, TEXT_PX = 15, 14  # CSS pixels at the width a figure is laid out for
# Device pixels per CSS pixel: sharp on a wider screen, where the pages show a picture up to 1.3 times the width it
# was laid out for (a picture wider than the width st.image is given would be resized on the server, every run).
SCALE = 1.3
PT = 72 / 100  # points per CSS pixel: figures are made at 100 dpi per unit of scale


# ---- charts: one ordinary matplotlib figure each ----------------------------------------------------------


def figure_bytes(figure, fmt: str) -> bytes:
    """PNG or SVG; an SVG keeps its text as text (editable on a slide, searchable)."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buffer.getvalue()


def new_figure(width: int, height: int, scale: float = SCALE):
    """A figure of ``width`` x ``height`` CSS pixels, its text at TEXT_PX, drawn at ``scale``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / 100, height / 100), dpi=100 * scale, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def style(ax) -> None:
    ax.tick_params(labelsize=TEXT_PX * PT)
    ax.xaxis.label.set_size(TEXT_PX * PT)
    ax.yaxis.label.set_size(TEXT_PX * PT)
    ax.spines[["top", "right"]].set_visible(False)


def summary_chart(rows: list[tuple], chance: float, title: str, width: int = 660, fmt: str = "png", ring: str = "task") -> bytes:
    """Each method's mean accuracy with its 95% interval over many tasks, every task's accuracy as a faint dot,
    the task on the page as a ring, and chance as a dashed line.

    Args:
        rows: (label, colour, accuracies (n_tasks,) in [0, 1], the page's task accuracy or None), top to bottom.
        chance: the accuracy of guessing, in [0, 1].
        ring: what the ring marks, as the page calls it ("task", "episode"); no ring, no legend entry.
    """
    figure = new_figure(width, 70 + 34 * len(rows) + 40)
    ax = figure.add_subplot()
    rng = np.random.default_rng(0)
    for i, (_, colour, accs, this) in enumerate(rows):
        accs = 100 * np.asarray(accs, dtype=float)
        mean, half = accs.mean(), 1.96 * accs.std() / math.sqrt(len(accs))
        ax.scatter(accs, i + rng.uniform(-0.22, 0.22, len(accs)), s=9, color=colour, alpha=0.18, lw=0, zorder=1)
        # the mean white with a black edge, so that it shows on a dense strip of dots of its own colour
        ax.errorbar(mean, i, xerr=half, fmt="D", ms=8, mfc="white", mec="black", mew=1.6, ecolor="black",
                    elinewidth=2, capsize=5, zorder=3)  # fmt: skip
        shown = f"{mean:.0f} ± {half:.{0 if half >= 0.95 else 1}f}%"
        # the numbers in a column of their own at the right, each on its row: no dot or line crosses them
        ax.text(1.02, i, shown, transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=TEXT_PX * PT)
        if this is not None:
            ax.scatter([100 * this], [i], s=90, facecolors="none", edgecolors="black", lw=1.5, zorder=4)
    ax.axvline(100 * chance, color="#444", ls="--", lw=1.4, zorder=0, label=f"chance ({100 * chance:.0f}%)")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(-2, 102)
    ax.set_xlabel("query accuracy (%)")
    ax.set_title(title, fontsize=TEXT_PX * PT, loc="left")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="D", mfc="white", mec="black", mew=1.6, ls="", label="mean, with its 95% interval"),
        Line2D([], [], marker="o", mfc="none", mec="black", ls="", ms=9, label=f"the {ring} on the page"),
        Line2D([], [], color="#444", ls="--", label=f"chance ({100 * chance:.0f}%)"),
    ]
    if all(row[3] is None for row in rows):  # the page's own task is not among the many: no ring drawn
        del handles[1]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=TEXT_PX * PT, frameon=False)
    style(ax)
    return figure_bytes(figure, fmt)


def steps_chart(
    maml: list[float], steps: int, others: dict[str, float], chance: float, mean: list[tuple] | None = None,
    width: int = 660, fmt: str = "png",
) -> bytes:  # fmt: skip
    """MAML's query accuracy after 0..n inner steps on one episode (fractions), the shown step ringed, the other
    methods as flat lines, chance dashed, and (``mean``: [(mean, half interval)] per step) the many-episode mean."""
    figure = new_figure(width, 330)
    ax = figure.add_subplot()
    x = np.arange(len(maml))
    if mean:
        m, half = (100 * np.array(v) for v in zip(*mean))
        ax.fill_between(x, m - half, m + half, color=METHOD_COLOURS["maml"], alpha=0.15, lw=0)
        ax.plot(x, m, color=METHOD_COLOURS["maml"], ls=":", lw=2, label="MAML (mean, 95%)")
    ax.plot(x, 100 * np.asarray(maml), "-o", color=METHOD_COLOURS["maml"], lw=2, ms=5, label="MAML (this episode)")
    ax.scatter(
        [steps], [100 * maml[steps]], s=200, facecolors="none", edgecolors="black", lw=1.6, zorder=5, label="step shown above"
    )
    for key, acc in others.items():
        ax.axhline(100 * acc, color=METHOD_COLOURS[key], lw=2, ls=(0, (6, 3)), label=LABELS[key])
    ax.axhline(100 * chance, color="#444", ls="--", lw=1.4, label=f"chance ({100 * chance:.0f}%)")
    ax.set_xticks(x)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("MAML's inner steps")
    ax.set_ylabel("query accuracy (%)")
    figure.legend(loc="outside lower center", ncols=3, fontsize=TEXT_PX * PT, frameon=False)
    style(ax)
    return figure_bytes(figure, fmt)


LABELS = {"hypermaml": "HyperMAML", "maml": "MAML", "protonet": "ProtoNet"}


def curves_chart(curves: dict[str, list[float]], every: int, width: int = 660, fmt: str = "png") -> bytes:
    """Live training's query loss per model (a list per method, one value every ``every`` optimiser steps)."""
    figure = new_figure(width, 300)
    ax = figure.add_subplot()
    for name, values in curves.items():
        if values:
            ax.plot(np.arange(1, len(values) + 1) * every, values, "-o", ms=3, color=METHOD_COLOURS[name], label=LABELS[name])
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("query loss")
    ax.legend(fontsize=TEXT_PX * PT, frameon=False)
    style(ax)
    return figure_bytes(figure, fmt)


def episode_sheet(result: dict, probs: dict[str, np.ndarray], names: list[str], title: str, fmt: str = "png") -> bytes:
    """One Real episode as one picture: the support images under their class names, then every query with each
    method's guess (✓/✗), laid out like the page. ``result``: :func:`app.compute.episode_results`."""
    from PIL import Image

    n_way = len(names)
    support = [
        [Image.open(io.BytesIO(b)) for b, y in zip(result["support"], result["support_y"]) if y == k] for k in range(n_way)
    ]
    query_y = np.asarray(result["query_y"])
    per_class = [[i for i in range(len(query_y)) if query_y[i] == k] for k in range(n_way)]
    rows = max(len(c) for c in per_class)
    lines = len(probs)
    figure = new_figure(250 * n_way, 150 + rows * (70 + 19 * lines) + 30)
    grid = figure.add_gridspec(1 + rows, n_way, height_ratios=[1.2] + [1 + 0.28 * lines] * rows)
    for k in range(n_way):
        ax = figure.add_subplot(grid[0, k])
        ax.imshow(np.concatenate([np.asarray(im.convert("L")) for im in support[k]], axis=1), cmap="gray", vmin=0, vmax=255)
        ax.set_title(wrap(names[k], 26), fontsize=TEXT_PX * PT)
        ax.set_axis_off()
        for r, i in enumerate(per_class[k]):
            ax = figure.add_subplot(grid[1 + r, k])
            ax.imshow(np.asarray(Image.open(io.BytesIO(result["query"][i])).convert("L")), cmap="gray", vmin=0, vmax=255)
            ax.set_axis_off()
            text = []
            for method, p in probs.items():
                guess = int(p[i].argmax())
                text.append(f"{'✓' if guess == k else '✗'} {LABELS[method]}: {short(names[guess], 22)}")
            ax.set_title("\n".join(text), fontsize=(TEXT_PX - 2) * PT, y=-0.02, va="top", loc="center")
    figure.suptitle(f"{title}\ntop row: the support set; below: the queries of each class, with every method's guess",
                    fontsize=TITLE_PX * PT)  # fmt: skip
    return figure_bytes(figure, fmt)


def wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def short(text: str, n: int = 18) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
