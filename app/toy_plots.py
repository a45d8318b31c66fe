"""Pictures for the toy view, drawn from ``hm.decision_grid`` output (the core computes, we draw)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import contourpy
import numpy as np
import torch

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
    note: str = ""  # the line under the title (default: accuracy and adaptation time)
    references: tuple = ()  # ((grid, colour), ...): more boundaries, drawn dashed under the panel's own


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


def make_panel(
    title: str, model: hm.FewShotModel, task, episode: hm.Episode, adapt_ms: float, xlim, ylim, resolution: int = 90
) -> Panel:
    with torch.no_grad():
        accuracy = (model.logits(episode.query_x, task).argmax(-1) == episode.query_y).float().mean().item()
    return Panel(title, hm.decision_grid(model, task, xlim, ylim, resolution), accuracy, adapt_ms)


def delta_table(task: hm.HyperTask) -> str:
    """θ, Δθ and θ+Δθ per class, as a Markdown table (cheap to send on every rerun, unlike a dataframe)."""
    w, b, dw, db = (t.detach() for t in (task.weight, task.bias, task.delta_weight, task.delta_bias))
    lines = ["| class | part | θ (base) | Δθ (hypernetwork) | θ + Δθ |", "|---|---|---:|---:|---:|"]
    for c in range(w.shape[0]):
        parts = [(f"w[{j}]", w[c, j], dw[c, j]) for j in range(w.shape[1])] + [("bias", b[c], db[c])]
        lines += [
            f"| {c}{' (' + ('blue', 'red')[c] + ')' if w.shape[0] == 2 else ''} | {name} | {float(base):+.3f} | "
            f"{float(delta):+.3f} | {float(base + delta):+.3f} |"
            for name, base, delta in parts
        ]
    return "\n".join(lines)


ALPHA_REFERENCES = (0.0, 0.25, 0.5, 0.75, 1.0)


GREYS = ("#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252")


def alpha_png(model: hm.HyperMAML, task: hm.HyperTask, episode: hm.Episode, alpha: float, xlim, ylim) -> bytes:
    """The classifier θ + α·Δθ over the region as a PNG: its probabilities, boundary and query accuracy, the
    points, and the boundaries at α = 0, ¼, ½, ¾, 1 for reference (dashed, light to dark)."""
    blended = task.with_alpha(alpha)
    with torch.no_grad():
        accuracy = (model.logits(episode.query_x, blended).argmax(-1) == episode.query_y).float().mean().item()
    references = tuple(
        (hm.decision_grid(model, task.with_alpha(a), xlim, ylim, 60), grey) for a, grey in zip(ALPHA_REFERENCES, GREYS)
    )
    panel = Panel(
        "θ + α·Δθ",
        hm.decision_grid(model, blended, xlim, ylim, 90),
        accuracy,
        0.0,
        note=f"α = {alpha:.2f}: {100 * accuracy:.0f}% correct",
        references=references,
    )
    return panels_png([panel], episode, columns=1)


class PanelCanvas:
    """A figure for the toy's small multiples whose unchanging parts are drawn once.

    Panels sit in *unit* coordinates (panel i covers one unit square at its slot), so the frame (static
    titles, legend, colour bar) is the same for every task of a page and is drawn once, the first time, and
    kept as a pixel background. A new task restores that background and draws only what changed: the
    probability images (pasted as pixels), boundaries, frames and points (matplotlib's ``draw_artist``), and
    the per-task text (accuracy, time, tick labels) with Pillow, in matplotlib's own DejaVu Sans. That is a
    tenth of drawing the figure anew, and a new toy task is mostly this drawing.

    A canvas is mutable: one thread at a time renders on it; :func:`panels_png` lends them from a pool.
    """

    def __init__(self, titles: tuple[str, ...], columns: int, references: bool = False, dpi: int = 100) -> None:
        from matplotlib import colormaps  # noqa: F401  - registers the colormap machinery before use
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.colors import LinearSegmentedColormap
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from PIL import ImageFont

        self.columns, self.rows = columns, -(-len(titles) // columns)
        self.gap_x, self.gap_y = 0.1, 0.36  # room for the next panel's y labels, and for a title above each panel
        total_w = columns + (columns - 1) * self.gap_x
        total_h = self.rows + (self.rows - 1) * self.gap_y
        self.cmap = LinearSegmentedColormap.from_list("p_red", [c for _, c in COLOURSCALE])
        size = (10.8, 10.8 * (total_h + 0.55) / (total_w + 0.35) + 0.5) if columns > 1 else (6.0, 6.2)  # inches
        self.figure = Figure(figsize=size, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        wide = columns > 1
        ax = self.ax = self.figure.add_axes((0.03, 0.1, 0.86, 0.84) if wide else (0.07, 0.17, 0.74, 0.76))
        ax.set_axis_off()
        ax.set_xlim(-0.02, total_w + 0.01)
        ax.set_ylim(-0.02, total_h + 0.01)
        ax.set_aspect("equal")
        ax.apply_aspect()
        line = 1.3 * 11 * dpi / 72 / float(ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0])
        for i, title in enumerate(titles):  # the title one text line above the per-task line drawn in render()
            ox, oy = self.origin(i)
            ax.text(ox + 0.5, oy + 1.04 + line, title, ha="center", va="bottom", fontsize=11)
        handles = [
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=ms,
                color=CLASS_COLOURS[k],
                mec="black" if big else "none",
                label=f"{kind}, class {k}",
            )
            for kind, ms, big in (("support", 8, True), ("query", 4, False))
            for k in (0, 1)
        ]
        handles.append(Line2D([], [], color="black", lw=1.6, label="decision boundary (P = 0.5)"))
        if references:
            handles.append(Line2D([], [], color=GREYS[2], lw=1.4, ls=(0, (2, 2)), label="at α = 0, ¼, ½, ¾, 1 (light to dark)"))
        self.figure.legend(
            handles=handles, loc="lower center", ncols=3 if columns > 1 else 2, fontsize=11 if columns > 1 else 9, frameon=False
        )
        image = ax.imshow(np.zeros((2, 2)), cmap=self.cmap, vmin=0, vmax=1, visible=False)
        self.figure.colorbar(
            image,
            cax=self.figure.add_axes((0.925, 0.3, 0.014, 0.4) if wide else (0.86, 0.4, 0.03, 0.3)),
            label="P(red)",
            ticks=[0, 0.5, 1],
        )
        # What changes with the task: drawn on demand only.
        self.boundaries = ax.add_collection(LineCollection([], colors="black", linewidths=1.6, zorder=2, animated=True))
        self.references = ax.add_collection(LineCollection([], linewidths=1.4, linestyles=(0, (2, 2)), zorder=2, animated=True))
        self.frames = ax.add_collection(LineCollection([], colors="#888", linewidths=0.8, zorder=4, animated=True))
        self.points = {
            key: ax.scatter(
                [],
                [],
                s=size,
                color=CLASS_COLOURS[int(key[1])],
                edgecolors=edge,
                linewidths=1.2 if edge != "none" else 0,
                alpha=0.55 if key[0] == "q" else 1.0,
                zorder=3,
                animated=True,
            )
            for key, size, edge in (("q0", 6, "none"), ("q1", 6, "none"), ("s0", 55, "black"), ("s1", 55, "black"))
        }
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.height = int(self.canvas.get_width_height()[1])
        font = Path(matplotlib_data()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        self.font = ImageFont.truetype(str(font), round(11 * dpi / 72))
        self.small = ImageFont.truetype(str(font), round(9 * dpi / 72))

    def origin(self, i: int) -> tuple[float, float]:
        r, c = divmod(i, self.columns)
        return c * (1 + self.gap_x), (self.rows - 1 - r) * (1 + self.gap_y)

    def pixel(self, u: float, v: float) -> tuple[float, float]:
        """Unit coordinates to image pixels (x right, y down)."""
        x, y = self.ax.transData.transform((u, v))
        return float(x), self.height - float(y)

    def render(self, panels: list[Panel], episode: hm.Episode) -> bytes:
        import io

        from PIL import Image, ImageDraw

        self.canvas.restore_region(self.background)
        pixels = np.asarray(self.canvas.buffer_rgba())
        g = panels[0].grid
        x0, x1, y0, y1 = float(g.xs[0]), float(g.xs[-1]), float(g.ys[0]), float(g.ys[-1])
        w, h = x1 - x0, y1 - y0
        sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
        qx, qy = episode.query_x.numpy(), episode.query_y.numpy()
        points: dict[str, list] = {key: [] for key in self.points}
        frames, boundaries, references, colours = [], [], [], []
        for i, p in enumerate(panels):
            ox, oy = self.origin(i)
            # The probability image, straight into the pixels (row 0 at the top, so flipped).
            left, top = self.pixel(ox, oy + 1)
            right, bottom = self.pixel(ox + 1, oy)
            box = (round(left), round(top), round(right), round(bottom))
            rgba = self.cmap(p.grid.probs[::-1, :, 1], bytes=True)
            pixels[box[1] : box[3], box[0] : box[2]] = np.asarray(
                Image.fromarray(rgba).resize((box[2] - box[0], box[3] - box[1]), Image.NEAREST)
            )
            for line in contour_lines(p.grid):
                boundaries.append((line - (x0, y0)) / (w, h) + (ox, oy))
            for grid, colour in p.references:
                for line in contour_lines(grid):
                    references.append((line - (x0, y0)) / (w, h) + (ox, oy))
                    colours.append(colour)
            for k in (0, 1):
                for key, xy in ((f"s{k}", sx[sy == k]), (f"q{k}", qx[qy == k])):
                    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
                    points[key].append((xy[inside] - (x0, y0)) / (w, h) + (ox, oy))
            frames.append([(ox, oy), (ox + 1, oy), (ox + 1, oy + 1), (ox, oy + 1), (ox, oy)])
        self.boundaries.set_segments(boundaries)
        self.frames.set_segments(frames)
        if references:
            self.references.set_segments(references)
            self.references.set_color(colours)
            self.ax.draw_artist(self.references)
        self.ax.draw_artist(self.boundaries)
        for key, artist in self.points.items():
            artist.set_offsets(np.concatenate(points[key]) if points[key] else np.empty((0, 2)))
            self.ax.draw_artist(artist)
        self.ax.draw_artist(self.frames)
        image = Image.fromarray(pixels[..., :3])
        draw = ImageDraw.Draw(image)
        step = 5 if w <= 30 else 10
        ticks_x = np.arange(np.ceil(x0 / step) * step, x1 + 1e-9, step)
        ticks_y = np.arange(np.ceil(y0 / step) * step, y1 + 1e-9, step)
        for i, p in enumerate(panels):
            ox, oy = self.origin(i)
            draw.text(
                self.pixel(ox + 0.5, oy + 1.04),
                p.note or f"{100 * p.accuracy:.0f}% correct · {p.adapt_ms:.2f} ms",
                font=self.font,
                fill="black",
                anchor="mb",
            )
            r, c = divmod(i, self.columns)
            if r == self.rows - 1:  # x tick labels under the bottom row
                for t in ticks_x:
                    draw.text(self.pixel((t - x0) / w + ox, oy - 0.03), f"{t:g}", font=self.small, fill="#444", anchor="mt")
            if c == 0:  # y tick labels left of the first column
                for t in ticks_y:
                    draw.text(self.pixel(ox - 0.02, (t - y0) / h + oy), f"{t:g}", font=self.small, fill="#444", anchor="rm")
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


def matplotlib_data() -> str:
    import matplotlib

    return matplotlib.get_data_path()


def contour_lines(grid: hm.Grid, level: float = 0.5) -> list[np.ndarray]:
    """The decision boundary's pieces as (n, 2) arrays of points."""
    lines = contourpy.contour_generator(grid.xs, grid.ys, grid.probs[..., 1], line_type="Separate").lines(level)
    return [line for line in lines if len(line) > 1]


_CANVASES: dict[tuple, list[PanelCanvas]] = {}
_CANVAS_LOCK = threading.Lock()


def panels_png(panels: list[Panel], episode: hm.Episode, columns: int = 4) -> bytes:
    """The panels side by side as one PNG: same axes and colour scale, support (large) and query (small) points.

    A picture rather than an interactive chart: the page redraws it on every change, and a browser shows a
    PNG at once where it would lay out eight plotly subplots anew. Drawn on a :class:`PanelCanvas` borrowed
    from a pool (one per concurrent drawing, so visitors' threads never share one), with matplotlib's object
    API only (no pyplot state). The view must be square, as the toy page's is.
    """
    key = (tuple(p.title for p in panels), columns, any(p.references for p in panels))
    with _CANVAS_LOCK:
        idle = _CANVASES.setdefault(key, [])
        canvas = idle.pop() if idle else None
    if canvas is None:
        canvas = PanelCanvas(key[0], columns, references=key[2])
    try:
        return canvas.render(panels, episode)
    finally:
        with _CANVAS_LOCK:
            if len(_CANVASES[key]) < 4:  # a few kept; more only exist while that many visitors draw at once
                _CANVASES[key].append(canvas)
