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
    in this thread (the studio runs torch on one thread, set once at start-up in ``app.resources``; nothing
    here changes process-wide state). The page caches the result per task, so it must not be a disturbed one.
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
    PNG at once where it would lay out eight plotly subplots anew. Drawn with matplotlib's object API (no
    pyplot state), so concurrent visitors' threads can draw at the same time.
    """
    import io

    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    cmap = LinearSegmentedColormap.from_list("p_red", [c for _, c in COLOURSCALE])
    rows = -(-len(panels) // columns)
    # small inches, large type: the picture is shown 550-1100 px wide (a projector at 1024 px, a laptop)
    height = 3.0 * rows + 0.7
    fig = Figure(figsize=(2.6 * columns + 0.9, height), dpi=dpi)
    # a fixed layout: constrained layout would cost more than the drawing itself
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False,
                        gridspec_kw=dict(left=0.045, right=0.9, top=1 - 0.62 / height, bottom=0.85 / height, wspace=0.08, hspace=0.42))
    sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
    qx, qy = episode.query_x.numpy(), episode.query_y.numpy()
    g = panels[0].grid
    extent = (g.xs[0], g.xs[-1], g.ys[0], g.ys[-1])
    step = 5 if g.xs[-1] - g.xs[0] <= 30 else 10
    ticks_x = np.arange(np.ceil(g.xs[0] / step) * step, g.xs[-1] + 1e-9, step)
    ticks_y = np.arange(np.ceil(g.ys[0] / step) * step, g.ys[-1] + 1e-9, step)
    image = None
    for ax, p in zip(axes.flat, panels):
        image = ax.imshow(p.grid.probs[..., 1], origin="lower", extent=extent, cmap=cmap, vmin=0, vmax=1,
                          interpolation="nearest", aspect="equal")
        bx, by = boundary(p.grid)
        ax.plot(np.array(bx, dtype=float), np.array(by, dtype=float), color="black", lw=1.6)
        for k in (0, 1):
            ax.scatter(qx[qy == k, 0], qx[qy == k, 1], s=6, color=CLASS_COLOURS[k], alpha=0.55, lw=0)
            ax.scatter(sx[sy == k, 0], sx[sy == k, 1], s=55, color=CLASS_COLOURS[k], edgecolors="black", linewidths=1.2)
        # an explicit title height and fixed ticks: matplotlib's automatic ones cost most of the drawing time
        ax.set_title(f"{p.title}\n{100 * p.accuracy:.0f}% correct · {p.adapt_ms:.2f} ms", fontsize=11, y=1.01)
        ax.tick_params(labelsize=10)
    axes[0, 0].set_xlim(extent[0], extent[1])  # shared by every panel
    axes[0, 0].set_ylim(extent[2], extent[3])
    axes[0, 0].set_xticks(ticks_x)
    axes[0, 0].set_yticks(ticks_y)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="", marker="o", ms=ms, color=CLASS_COLOURS[k], mec="black" if big else "none", label=f"{kind}, class {k}")
               for kind, ms, big in (("support", 8, True), ("query", 4, False)) for k in (0, 1)]
    handles.append(Line2D([], [], color="black", lw=1.6, label="decision boundary (P = 0.5)"))
    fig.legend(handles=handles, loc="lower center", ncols=3, fontsize=11, frameon=False)
    fig.colorbar(image, cax=fig.add_axes((0.925, 0.3, 0.014, 0.4)), label="P(red)", ticks=[0, 0.5, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
