"""Plotly figures for the toy view, built from ``hm.decision_grid`` output (the core computes, we draw)."""

from __future__ import annotations

import time
from dataclasses import dataclass

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


def adapt_timed(model: hm.FewShotModel, episode: hm.Episode, **kwargs):
    """(task state, adaptation time in ms); the best of 3 runs, so a first-call hiccup does not show."""
    best, task = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        with torch.no_grad():
            task = model.adapt(episode.support_x, episode.support_y, **kwargs)
        best = min(best, time.perf_counter() - start)
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
        fig.add_trace(go.Heatmap(x=p.grid.xs, y=p.grid.ys, z=p.grid.probs[..., 1], zmin=0, zmax=1, colorscale=COLOURSCALE,
                                 showscale=i == 0, colorbar=dict(title="P(red)", len=0.5), hoverinfo="skip"), row=r, col=c)
        fig.add_trace(go.Contour(x=p.grid.xs, y=p.grid.ys, z=p.grid.probs[..., 1], contours=dict(start=0.5, end=0.5, coloring="none"),
                                 line=dict(color="black", width=2), showscale=False, showlegend=False, hoverinfo="skip"), row=r, col=c)
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


def alpha_figure(model: hm.HyperMAML, task: hm.HyperTask, episode: hm.Episode, alpha: float, xlim, ylim) -> go.Figure:
    """The boundary of θ + αΔθ over the region, with faint boundaries at α = 0, 0.25, ..., 1 for reference."""
    fig = go.Figure()
    current = hm.decision_grid(model, task.with_alpha(alpha), xlim, ylim, 90)
    fig.add_trace(go.Heatmap(x=current.xs, y=current.ys, z=current.probs[..., 1], zmin=0, zmax=1, colorscale=COLOURSCALE, showscale=False, hoverinfo="skip"))
    for a in np.linspace(0, 1, 5):
        g = hm.decision_grid(model, task.with_alpha(float(a)), xlim, ylim, 60)
        fig.add_trace(go.Contour(x=g.xs, y=g.ys, z=g.probs[..., 1], contours=dict(start=0.5, end=0.5, coloring="none"),
                                 line=dict(color="grey", width=1, dash="dot"), showscale=False, showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Contour(x=current.xs, y=current.ys, z=current.probs[..., 1], contours=dict(start=0.5, end=0.5, coloring="none"),
                             line=dict(color="black", width=3), showscale=False, showlegend=False, hoverinfo="skip"))
    sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
    for k in (0, 1):
        fig.add_trace(go.Scatter(x=sx[sy == k, 0], y=sx[sy == k, 1], mode="markers", showlegend=False,
                                 marker=dict(size=10, color=CLASS_COLOURS[k], line=dict(color="black", width=1.5))))
    fig.update_xaxes(range=list(xlim), constrain="domain")
    fig.update_yaxes(range=list(ylim), scaleanchor="x", scaleratio=1)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), title=f"θ + {alpha:.2f}·Δθ (dotted: α = 0, ¼, ½, ¾, 1)")
    return fig
