"""Plotly figures for the toy view, built from ``hm.decision_grid`` output (the core computes, we draw)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import contourpy
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

import hypermaml as hm

CLASS_COLOURS = ("#2166ac", "#b2182b")
COLOURSCALE = [[0.0, "#92c5de"], [0.5, "#f7f7f7"], [1.0, "#f4a582"]]  # P(class 1): blue -> white -> red


@dataclass(frozen=True)
class Panel:
    """One adapted model on one task: what a panel shows and says."""

    title: str
    grid: hm.Grid
    accuracy: float
    adapt_ms: float


def probability_image(grid: hm.Grid) -> np.ndarray:
    """P(class 1) as 0..255 bytes: looks the same in a heatmap and sends a ninth of the float64 data."""
    return np.round(grid.probs[..., 1] * 255).astype(np.uint8)


COLORBAR = dict(title="P(red)", len=0.5, tickvals=[0, 127.5, 255], ticktext=["0", "0.5", "1"])


def boundary(grid: hm.Grid, level: float = 0.5) -> tuple[list, list]:
    """The decision boundary (P = level) as polyline coordinates, None between pieces, for a line trace.

    Computed here with contourpy rather than by a plotly Contour trace, which the browser would have to
    contour itself on every draw (the slowest part of the toy page's first paint).
    """
    lines = contourpy.contour_generator(grid.xs, grid.ys, grid.probs[..., 1], line_type="Separate").lines(level)
    xs: list = []
    ys: list = []
    for line in lines:
        xs += line[:, 0].tolist() + [None]
        ys += line[:, 1].tolist() + [None]
    return xs, ys


def adapt_timed(model: hm.FewShotModel, episode: hm.Episode, **kwargs):
    """(task state, adaptation time in ms): one untimed warm-up, then the best of 3 runs.

    Timed as the adapting thread's CPU time (``time.thread_time``), so a browser or another program busy on
    the same cores does not inflate it; the toy models' tensors are small enough that torch computes them
    in this thread (``./run_app.sh`` starts the studio with one torch thread; nothing here changes process-wide
    state). The page caches the result per task, so it must not be a disturbed one.
    """
    with torch.no_grad():
        model.adapt(episode.support_x, episode.support_y, **kwargs)
    best, task = float("inf"), None
    for _ in range(3):
        start = time.thread_time()
        with torch.no_grad():
            task = model.adapt(episode.support_x, episode.support_y, **kwargs)
        best = min(best, time.thread_time() - start)
    return task, 1000 * best


def make_panel(title: str, model: hm.FewShotModel, task, episode: hm.Episode, adapt_ms: float, xlim, ylim, resolution: int = 90) -> Panel:
    with torch.no_grad():
        accuracy = (model.logits(episode.query_x, task).argmax(-1) == episode.query_y).float().mean().item()
    return Panel(title, hm.decision_grid(model, task, xlim, ylim, resolution), accuracy, adapt_ms)


def small_multiples(panels: list[Panel], episode: hm.Episode, columns: int = 4) -> go.Figure:
    """Panels side by side on the same axes and colour scale, support (large) and query (small) points."""
    rows = -(-len(panels) // columns)
    fig = make_subplots(
        rows=rows, cols=columns, shared_xaxes=True, shared_yaxes=True, horizontal_spacing=0.02, vertical_spacing=0.14,
        subplot_titles=[f"<b>{p.title}</b><br><sup>accuracy {100 * p.accuracy:.0f}% · adapt {p.adapt_ms:.2f} ms</sup>" for p in panels],
    )
    sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
    qx, qy = episode.query_x.numpy(), episode.query_y.numpy()
    for i, p in enumerate(panels):
        r, c = i // columns + 1, i % columns + 1
        fig.add_trace(go.Heatmap(x=p.grid.xs, y=p.grid.ys, z=probability_image(p.grid), zmin=0, zmax=255, colorscale=COLOURSCALE,
                                 showscale=i == 0, colorbar=COLORBAR, hoverinfo="skip"), row=r, col=c)
        bx, by = boundary(p.grid)
        fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", line=dict(color="black", width=2), showlegend=False,
                                 hoverinfo="skip"), row=r, col=c)
        for k in (0, 1):
            fig.add_trace(go.Scatter(x=qx[qy == k, 0], y=qx[qy == k, 1], mode="markers", marker=dict(size=4, color=CLASS_COLOURS[k], opacity=0.55),
                                     name=f"query, class {k}", showlegend=i == 0, legendgroup=f"q{k}"), row=r, col=c)
            fig.add_trace(go.Scatter(x=sx[sy == k, 0], y=sx[sy == k, 1], mode="markers",
                                     marker=dict(size=10, color=CLASS_COLOURS[k], line=dict(color="black", width=1.5)),
                                     name=f"support, class {k}", showlegend=i == 0, legendgroup=f"s{k}"), row=r, col=c)
    fig.update_xaxes(range=[panels[0].grid.xs[0], panels[0].grid.xs[-1]], showticklabels=True, constrain="domain")
    fig.update_yaxes(range=[panels[0].grid.ys[0], panels[0].grid.ys[-1]], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=330 * rows + 60, margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h", y=-0.04))
    return fig


def delta_table(task: hm.HyperTask) -> dict[str, list]:
    """θ, Δθ and θ+Δθ per class, as columns for a table."""
    rows: dict[str, list] = {"class": [], "part": [], "θ (base)": [], "Δθ (hypernetwork)": [], "θ + Δθ": []}
    for c in range(task.weight.shape[0]):
        w, b, dw, db = (t.detach() for t in (task.weight, task.bias, task.delta_weight, task.delta_bias))
        parts = [(f"w[{j}]", w[c, j], dw[c, j]) for j in range(w.shape[1])]
        parts.append(("bias", b[c], db[c]))
        for name, base, delta in parts:
            rows["class"].append(c)
            rows["part"].append(name)
            rows["θ (base)"].append(round(float(base), 3))
            rows["Δθ (hypernetwork)"].append(round(float(delta), 3))
            rows["θ + Δθ"].append(round(float(base + delta), 3))
    return rows


def alpha_references(model: hm.HyperMAML, task: hm.HyperTask, xlim, ylim) -> list[tuple[list, list]]:
    """The boundaries of θ + αΔθ at α = 0, ¼, ½, ¾, 1 (they do not move with the slider: compute once)."""
    return [boundary(hm.decision_grid(model, task.with_alpha(float(a)), xlim, ylim, 60)) for a in np.linspace(0, 1, 5)]


def alpha_figure(model: hm.HyperMAML, task: hm.HyperTask, episode: hm.Episode, alpha: float, xlim, ylim,
                 references: list[tuple[list, list]] | None = None) -> go.Figure:
    """The boundary of θ + αΔθ over the region, with faint boundaries at α = 0, 0.25, ..., 1 for reference.

    Built from plain dicts without plotly's per-property validation: this redraws on every slider move.
    """
    references = alpha_references(model, task, xlim, ylim) if references is None else references
    current = hm.decision_grid(model, task.with_alpha(alpha), xlim, ylim, 90)
    data = [dict(type="heatmap", x=current.xs, y=current.ys, z=probability_image(current), zmin=0, zmax=255,
                 colorscale=COLOURSCALE, showscale=False, hoverinfo="skip")]
    for bx, by in references:
        data.append(dict(type="scatter", x=bx, y=by, mode="lines", line=dict(color="grey", width=1, dash="dot"),
                         showlegend=False, hoverinfo="skip"))
    bx, by = boundary(current)
    data.append(dict(type="scatter", x=bx, y=by, mode="lines", line=dict(color="black", width=3), showlegend=False, hoverinfo="skip"))
    sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
    for k in (0, 1):
        data.append(dict(type="scatter", x=sx[sy == k, 0], y=sx[sy == k, 1], mode="markers", showlegend=False,
                         marker=dict(size=10, color=CLASS_COLOURS[k], line=dict(color="black", width=1.5))))
    layout = dict(height=420, margin=dict(l=10, r=10, t=30, b=10), title=dict(text=f"θ + {alpha:.2f}·Δθ (dotted: α = 0, ¼, ½, ¾, 1)"),
                  xaxis=dict(range=list(xlim), constrain="domain"), yaxis=dict(range=list(ylim), scaleanchor="x", scaleratio=1))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def panels_png(panels: list[Panel], episode: hm.Episode, columns: int = 4, dpi: int = 100) -> bytes:
    """The panels side by side as one PNG: same axes and colour scale, support (large) and query (small) points.

    A picture rather than an interactive chart: the page redraws it on every change, and a browser shows a
    PNG at once where it would lay out eight plotly subplots anew. Every panel is drawn into *one* matplotlib
    axes, shifted to its place, because per-axes machinery (ticks, title layout) is what costs time when a
    visitor asks for a new task. Drawn with matplotlib's object API (no pyplot state), so concurrent
    visitors' threads can draw at the same time.
    """
    import io

    from matplotlib.collections import LineCollection
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    cmap = LinearSegmentedColormap.from_list("p_red", [c for _, c in COLOURSCALE])
    rows = -(-len(panels) // columns)
    g = panels[0].grid
    x0, x1, y0, y1 = float(g.xs[0]), float(g.xs[-1]), float(g.ys[0]), float(g.ys[-1])
    w, h = x1 - x0, y1 - y0
    gap_x, gap_y = 0.1 * w, 0.36 * h  # room for the next panel's y labels, and for a title above each panel

    def origin(i: int) -> tuple[float, float]:
        r, c = divmod(i, columns)
        return c * (w + gap_x), (rows - 1 - r) * (h + gap_y)

    total_w, total_h = columns * w + (columns - 1) * gap_x, rows * h + (rows - 1) * gap_y
    fig = Figure(figsize=(10.8, 10.8 * (total_h + 0.55 * h) / (total_w + 0.35 * w) + 0.5), dpi=dpi)
    ax = fig.add_axes((0.03, 0.1, 0.86, 0.84))
    ax.set_axis_off()
    sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
    qx, qy = episode.query_x.numpy(), episode.query_y.numpy()
    points = {key: [] for key in ("s0", "s1", "q0", "q1")}
    frames, boundaries, image = [], [], None
    step = 5 if w <= 30 else 10
    ticks_x = np.arange(np.ceil(x0 / step) * step, x1 + 1e-9, step)
    ticks_y = np.arange(np.ceil(y0 / step) * step, y1 + 1e-9, step)
    for i, p in enumerate(panels):
        ox, oy = origin(i)
        image = ax.imshow(p.grid.probs[..., 1], origin="lower", extent=(ox, ox + w, oy, oy + h), cmap=cmap, vmin=0,
                          vmax=1, interpolation="nearest")
        bx, by = boundary(p.grid)
        line = np.array([[np.nan if a is None else a - x0 + ox, np.nan if b is None else b - y0 + oy] for a, b in zip(bx, by)])
        if len(line):
            for piece in np.split(line, np.where(np.isnan(line[:, 0]))[0]):
                piece = piece[~np.isnan(piece[:, 0])]
                if len(piece) > 1:
                    boundaries.append(piece)
        for k in (0, 1):
            for key, xy in ((f"s{k}", sx[sy == k]), (f"q{k}", qx[qy == k])):
                inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
                points[key].append(xy[inside] - (x0, y0) + (ox, oy))
        frames.append([(ox, oy), (ox + w, oy), (ox + w, oy + h), (ox, oy + h), (ox, oy)])
        ax.text(ox + w / 2, oy + h + 0.04 * h, f"{p.title}\n{100 * p.accuracy:.0f}% correct · {p.adapt_ms:.2f} ms",
                ha="center", va="bottom", fontsize=11)
        r, c = divmod(i, columns)
        if r == rows - 1:  # x tick labels under the bottom row
            for t in ticks_x:
                ax.text(t - x0 + ox, oy - 0.03 * h, f"{t:g}", ha="center", va="top", fontsize=9, color="#444")
        if c == 0:  # y tick labels left of the first column
            for t in ticks_y:
                ax.text(ox - 0.02 * w, t - y0 + oy, f"{t:g}", ha="right", va="center", fontsize=9, color="#444")
    # One artist per kind of point for all panels (points outside the view were dropped above: the page's view
    # is grown to hold every point, so that only happens to callers with a smaller window).
    for key, size, edge in (("q0", 6, "none"), ("q1", 6, "none"), ("s0", 55, "black"), ("s1", 55, "black")):
        xy = np.concatenate(points[key]) if points[key] else np.empty((0, 2))
        k = int(key[1])
        ax.scatter(xy[:, 0], xy[:, 1], s=size, color=CLASS_COLOURS[k], edgecolors=edge,
                   linewidths=1.2 if edge != "none" else 0, alpha=0.55 if key[0] == "q" else 1.0, zorder=3)
    ax.add_collection(LineCollection(boundaries, colors="black", linewidths=1.6, zorder=2))
    ax.add_collection(LineCollection(frames, colors="#888", linewidths=0.8, zorder=4))
    ax.set_xlim(-0.02 * w, total_w + 0.01 * w)
    ax.set_ylim(-0.02 * h, total_h + 0.01 * h)
    ax.set_aspect("equal")
    handles = [Line2D([], [], ls="", marker="o", ms=ms, color=CLASS_COLOURS[k], mec="black" if big else "none", label=f"{kind}, class {k}")
               for kind, ms, big in (("support", 8, True), ("query", 4, False)) for k in (0, 1)]
    handles.append(Line2D([], [], color="black", lw=1.6, label="decision boundary (P = 0.5)"))
    fig.legend(handles=handles, loc="lower center", ncols=3, fontsize=11, frameon=False)
    fig.colorbar(image, cax=fig.add_axes((0.925, 0.3, 0.014, 0.4)), label="P(red)", ticks=[0, 0.5, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
