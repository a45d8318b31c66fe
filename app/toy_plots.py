"""Pictures for the studio's views, drawn from numbers the core computed (``hm.decision_grid``, accuracies).

Every picture is laid out for the width, in CSS pixels, at which the page shows it on a 1024 px screen, with its
text at 14-15 px of that width (a projector in a classroom: an 8 px title is unreadable from the back row), and
drawn at ``scale`` device pixels per CSS pixel, so that a wider screen, which stretches it, still shows it sharp.
Each comes as PNG (shown, downloadable) and SVG (downloadable): the PNG of the toy's panels through the fast
:class:`PanelCanvas`, everything else through one ordinary matplotlib figure (object API, no pyplot state; the
shared helpers and charts are in :mod:`app.figures`).
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import contourpy
import numpy as np
import torch

import hypermaml as hm
from app.figures import PT, SCALE, TEXT_PX, TITLE_PX, figure_bytes

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


# What a panel's title becomes where the full one does not fit (four panels a row in a 660 px column).
SHORT_TITLES = {"HyperMAML: 1 update": "HyperMAML", "ProtoNet: class means": "ProtoNet", "MAML: 0 steps (θ)": "MAML: θ"}
ALPHA_REFERENCES = (0.0, 0.25, 0.5, 0.75, 1.0)
GREYS = ("#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252")


def alpha_panel(model: hm.HyperMAML, task: hm.HyperTask, episode: hm.Episode, alpha: float, xlim, ylim) -> Panel:
    """The classifier θ + α·Δθ: its probabilities, boundary and query accuracy, with the boundaries at α = 0,
    ¼, ½, ¾, 1 for reference (dashed, light to dark)."""
    blended = task.with_alpha(alpha)
    with torch.no_grad():
        accuracy = (model.logits(episode.query_x, blended).argmax(-1) == episode.query_y).float().mean().item()
    references = tuple(
        (hm.decision_grid(model, task.with_alpha(a), xlim, ylim, 60), grey) for a, grey in zip(ALPHA_REFERENCES, GREYS)
    )
    note = f"α = {alpha:.2f}: {100 * accuracy:.0f}% correct (chance 50%)"
    return Panel("θ + α·Δθ", hm.decision_grid(model, blended, xlim, ylim, 90), accuracy, 0.0, note, references)


def alpha_png(model, task, episode, alpha: float, xlim, ylim, width: int = 390) -> bytes:
    return panels_png([alpha_panel(model, task, episode, alpha, xlim, ylim)], episode, columns=1, width=width)


# ---- the toy's small multiples ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where everything of a panels figure goes, in CSS pixels (x right, y down), for ``width``."""

    n: int
    columns: int
    width: int
    references: bool = False
    left: float = 40  # y tick labels
    right: float = 74  # colour bar, its ticks and label
    gap_x: float = 16
    header: float = 44  # title and the per-task line above each panel
    gap_y: float = 14
    ticks: float = 24  # x tick labels under the bottom row

    @property
    def rows(self) -> int:
        return -(-self.n // self.columns)

    @property
    def side(self) -> float:
        return (self.width - self.left - self.right - (self.columns - 1) * self.gap_x) / self.columns

    def legend(self) -> list[tuple[str, dict]]:
        entries = [
            ("support point", dict(marker="o", ms=9 * PT, color="#888", mec="black", ls="")),
            ("query point", dict(marker="o", ms=5 * PT, color="#888", mec="none", ls="")),
            ("class 0 (blue)", dict(marker="s", ms=11 * PT, color=CLASS_COLOURS[0], ls="")),
            ("class 1 (red)", dict(marker="s", ms=11 * PT, color=CLASS_COLOURS[1], ls="")),
            ("decision boundary", dict(color="black", lw=1.6)),
        ]
        if self.references:
            entries.append(("at α = 0, ¼, ½, ¾, 1", dict(color=GREYS[3], lw=1.4, ls=(0, (2, 2)))))
        return entries

    @property
    def legend_columns(self) -> int:
        return max(1, min(len(self.legend()), int((self.width - 16) // 175)))

    @property
    def height(self) -> float:
        legend_rows = -(-len(self.legend()) // self.legend_columns)
        return 4 + self.rows * (self.header + self.side) + (self.rows - 1) * self.gap_y + self.ticks + 24 * legend_rows + 8

    def box(self, i: int) -> tuple[float, float]:
        """(left, top) of panel ``i``."""
        r, c = divmod(i, self.columns)
        return self.left + c * (self.side + self.gap_x), 4 + self.header + r * (self.header + self.side + self.gap_y)


class PanelCanvas:
    """A figure for the toy's small multiples whose unchanging parts are drawn once.

    The frame (static titles, legend, colour bar) is the same for every task of a page, so it is drawn once, the
    first time, and kept as a pixel background. A new task restores that background and draws only what changed:
    the probability images (pasted as pixels), boundaries, frames and points (matplotlib's ``draw_artist``), and
    the per-task text (accuracy, time, tick labels) with Pillow, in matplotlib's own DejaVu Sans. That is a
    tenth of drawing the figure anew, and a new toy task is mostly this drawing. ``full=True`` draws ordinary
    artists instead, for an SVG.

    A canvas is mutable: one thread at a time renders on it; :func:`panels_png` lends them from a pool.
    """

    def __init__(self, titles: tuple[str, ...], layout: Layout, scale: float = SCALE, full: bool = False) -> None:
        from matplotlib import colormaps  # noqa: F401  - registers the colormap machinery before use
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.colors import LinearSegmentedColormap
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from PIL import ImageFont

        self.layout, self.scale, self.full = layout, scale, full
        L = layout
        font = Path(matplotlib_data()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        self.font = ImageFont.truetype(str(font), round(TEXT_PX * scale))
        self.room = L.side + L.gap_x - 6  # the width a panel's title and line may take
        self.cmap = LinearSegmentedColormap.from_list("p_red", [c for _, c in COLOURSCALE])
        self.figure = Figure(figsize=(L.width / 100, L.height / 100), dpi=100 * scale)
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.ax = self.figure.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, L.width)
        ax.set_ylim(L.height, 0)  # CSS pixels, y down
        title_font = ImageFont.truetype(str(font), TITLE_PX)
        for i, title in enumerate(titles):  # the title one text line above the per-task line drawn in render()
            left, top = L.box(i)
            if title_font.getlength(title) > self.room:  # narrow panels: "HyperMAML", "MAML: 5 steps"
                title = SHORT_TITLES.get(title, title)
            ax.text(left + L.side / 2, top - 24, title, ha="center", va="bottom", fontsize=TITLE_PX * PT)
        handles = [Line2D([], [], label=label, **style) for label, style in L.legend()]
        self.figure.legend(
            handles=handles, loc="lower center", ncols=L.legend_columns, fontsize=TEXT_PX * PT, frameon=False,
            handletextpad=0.4, columnspacing=1.2, borderaxespad=0.2,
        )  # fmt: skip
        image = ax.imshow(np.zeros((2, 2)), cmap=self.cmap, vmin=0, vmax=1, visible=False)
        top = L.box(0)[1]
        bar_h = min(L.side * L.rows * 0.6, 220)
        bar_top = top + (L.rows * L.side + (L.rows - 1) * (L.header + L.gap_y) - bar_h) / 2
        cax = self.figure.add_axes(
            ((L.width - L.right + 12) / L.width, 1 - (bar_top + bar_h) / L.height, 12 / L.width, bar_h / L.height)
        )
        bar = self.figure.colorbar(image, cax=cax, ticks=[0, 0.5, 1])
        bar.set_label("P(red)", fontsize=TEXT_PX * PT)
        bar.ax.tick_params(labelsize=TEXT_PX * PT)
        # What changes with the task: drawn on demand only.
        animated = not full
        self.boundaries = ax.add_collection(LineCollection([], colors="black", linewidths=1.6, zorder=2, animated=animated))
        self.references = ax.add_collection(
            LineCollection([], linewidths=1.4, linestyles=(0, (2, 2)), zorder=2, animated=animated)
        )
        self.frames = ax.add_collection(LineCollection([], colors="#888", linewidths=0.8, zorder=4, animated=animated))
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
                animated=animated,
            )
            for key, size, edge in (("q0", (5 * PT) ** 2, "none"), ("q1", (5 * PT) ** 2, "none"), ("s0", (9 * PT) ** 2, "black"), ("s1", (9 * PT) ** 2, "black"))
        }  # fmt: skip
        if full:
            return
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def _place(self, panels: list[Panel], episode: hm.Episode) -> tuple:
        """Put the task's boundaries, points and frames on their artists; return what the text needs."""
        L = self.layout
        g = panels[0].grid
        x0, x1, y0, y1 = float(g.xs[0]), float(g.xs[-1]), float(g.ys[0]), float(g.ys[-1])
        w, h = x1 - x0, y1 - y0

        def to_px(xy: np.ndarray, left: float, top: float) -> np.ndarray:
            return np.stack([left + (xy[:, 0] - x0) / w * L.side, top + (1 - (xy[:, 1] - y0) / h) * L.side], -1)

        sx, sy = episode.support_x.numpy(), episode.support_y.numpy()
        qx, qy = episode.query_x.numpy(), episode.query_y.numpy()
        points: dict[str, list] = {key: [] for key in self.points}
        frames, boundaries, references, colours = [], [], [], []
        for i, p in enumerate(panels):
            left, top = L.box(i)
            boundaries += [to_px(line, left, top) for line in contour_lines(p.grid)]
            for grid, colour in p.references:
                for line in contour_lines(grid):
                    references.append(to_px(line, left, top))
                    colours.append(colour)
            for k in (0, 1):
                for key, xy in ((f"s{k}", sx[sy == k]), (f"q{k}", qx[qy == k])):
                    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
                    points[key].append(to_px(xy[inside], left, top))
            s = L.side
            frames.append([(left, top), (left + s, top), (left + s, top + s), (left, top + s), (left, top)])
        self.boundaries.set_segments(boundaries)
        self.frames.set_segments(frames)
        self.references.set_segments(references)
        if references:
            self.references.set_color(colours)
        for key, artist in self.points.items():
            artist.set_offsets(np.concatenate(points[key]) if points[key] else np.empty((0, 2)))
        return x0, x1, y0, y1

    def texts(self, panels: list[Panel], bounds: tuple) -> list[tuple[float, float, str, str]]:
        """(x, y, text, anchor) in CSS pixels: the per-task line of each panel and the tick labels."""
        L = self.layout
        x0, x1, y0, y1 = bounds
        w, h = x1 - x0, y1 - y0
        step = next((s for s in (5, 10, 20, 50) if L.side * s / w >= 42), 100)  # labels at least 42 px apart
        out = []
        for i, p in enumerate(panels):
            left, top = L.box(i)
            note = p.note or f"{100 * p.accuracy:.0f}% correct · {p.adapt_ms:.2f} ms"
            if self.font.getlength(note) / self.scale > self.room:
                note = note.replace(" correct", "")
            out.append((left + L.side / 2, top - 5, note, "mb"))
            r, c = divmod(i, L.columns)
            if r == L.rows - 1 or i + L.columns >= len(panels):  # x tick labels under the lowest panel of a column
                for t in np.arange(np.ceil(x0 / step) * step, x1 + 1e-9, step):
                    out.append((left + (t - x0) / w * L.side, top + L.side + 3, f"{t + 0.0:g}", "mt"))
            if c == 0:  # y tick labels left of the first column
                for t in np.arange(np.ceil(y0 / step) * step, y1 + 1e-9, step):
                    out.append((left - 4, top + (1 - (t - y0) / h) * L.side, f"{t + 0.0:g}", "rm"))
        return out

    def render(self, panels: list[Panel], episode: hm.Episode) -> bytes:
        from PIL import Image, ImageDraw

        L, scale = self.layout, self.scale
        self.canvas.restore_region(self.background)
        pixels = np.asarray(self.canvas.buffer_rgba())
        for i, p in enumerate(panels):  # the probability images, straight into the pixels (row 0 at the top)
            left, top = L.box(i)
            box = [round(v * scale) for v in (left, top, left + L.side, top + L.side)]
            rgba = self.cmap(p.grid.probs[::-1, :, 1], bytes=True)
            pixels[box[1] : box[3], box[0] : box[2]] = np.asarray(
                Image.fromarray(rgba).resize((box[2] - box[0], box[3] - box[1]), Image.NEAREST)
            )
        bounds = self._place(panels, episode)
        for artist in (self.references, self.boundaries, *self.points.values(), self.frames):
            self.ax.draw_artist(artist)
        image = Image.fromarray(pixels[..., :3])
        draw = ImageDraw.Draw(image)
        for x, y, text, anchor in self.texts(panels, bounds):
            fill = "black" if anchor == "mb" else "#333"
            draw.text((x * scale, y * scale), text, font=self.font, fill=fill, anchor=anchor)
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def svg(self, panels: list[Panel], episode: hm.Episode) -> bytes:
        """The same picture as ordinary artists, as SVG (a canvas made with ``full=True``)."""
        L = self.layout
        for i, p in enumerate(panels):
            left, top = L.box(i)
            self.ax.imshow(
                p.grid.probs[:, :, 1], cmap=self.cmap, vmin=0, vmax=1, origin="lower", interpolation="nearest",
                extent=(left, left + L.side, top + L.side, top), zorder=1,
            )  # fmt: skip
        bounds = self._place(panels, episode)
        align = {"mb": ("center", "bottom"), "mt": ("center", "top"), "rm": ("right", "center")}
        for x, y, text, anchor in self.texts(panels, bounds):
            ha, va = align[anchor]
            self.ax.text(x, y, text, ha=ha, va=va, fontsize=TEXT_PX * PT, color="black" if anchor == "mb" else "#333")
        self.ax.set_xlim(0, L.width)
        self.ax.set_ylim(L.height, 0)
        return figure_bytes(self.figure, "svg")


def matplotlib_data() -> str:
    import matplotlib

    return matplotlib.get_data_path()


def contour_lines(grid: hm.Grid, level: float = 0.5) -> list[np.ndarray]:
    """The decision boundary's pieces as (n, 2) arrays of points."""
    lines = contourpy.contour_generator(grid.xs, grid.ys, grid.probs[..., 1], line_type="Separate").lines(level)
    return [line for line in lines if len(line) > 1]


_CANVASES: dict[tuple, list[PanelCanvas]] = {}
_CANVAS_LOCK = threading.Lock()


def panels_png(panels: list[Panel], episode: hm.Episode, columns: int = 4, width: int = 660, fmt: str = "png") -> bytes:
    """The panels side by side as one picture laid out for ``width`` CSS pixels: same axes and colour scale,
    support (large) and query (small) points.

    A picture rather than an interactive chart: the page redraws it on every change, and a browser shows a
    PNG at once where it would lay out eight plotly subplots anew. Drawn on a :class:`PanelCanvas` borrowed
    from a pool (one per concurrent drawing, so visitors' threads never share one). The view must be square,
    as the toy page's is. ``fmt="svg"``: drawn anew as vector graphics (a download).
    """
    columns = min(columns, len(panels))
    layout = Layout(len(panels), columns, int(width), any(p.references for p in panels))
    titles = tuple(p.title for p in panels)
    if fmt == "svg":
        return PanelCanvas(titles, layout, full=True).svg(panels, episode)
    key = (titles, layout)
    with _CANVAS_LOCK:
        idle = _CANVASES.setdefault(key, [])
        canvas = idle.pop() if idle else None
    if canvas is None:
        canvas = PanelCanvas(titles, layout)
    try:
        return canvas.render(panels, episode)
    finally:
        with _CANVAS_LOCK:
            if len(_CANVASES[key]) < 4:  # a few kept; more only exist while that many visitors draw at once
                _CANVASES[key].append(canvas)
            if len(_CANVASES) > 64:  # layouts nobody uses any more (another width, another choice of panels)
                _CANVASES.pop(next(iter(_CANVASES)))
