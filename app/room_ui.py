"""The classroom page's parts (``app/views/room.py``): the store it shares, the QR code, the room's task as the
models see it, a student's addition, and a drawing pad made for a finger on a phone.

A room lives in the store (``app.store``), never in this process: every visitor's page reads it from there by
its id, so two students adding at once both land, and a page that loses its connection loses nothing added.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch
from PIL import Image

import hypermaml as hm
from app import resources
from app.drawing_pen import PEN_JS
from app.store import QUERIES, NotFound, RoomClosed, RoomSnapshot, Store, StoreError
from app.user_task import (
    N_WAY,
    DecodeCache,
    Picture,
    TaskClass,
    counted,
    decode,
    method_label,
    picture_from_data_url,
    predict,
    readable_counts,
    results_rows,
    shot_message,
    support_set,
)
from hypermaml.data import ImageError

REFRESH_S = 1.5  # how often the presenter asks the store whether the room changed (one small query)
QR_SCALE = 12  # pixels per QR module: a room link is 41 modules with the border, about 490 px


def md(text) -> str:
    """A visitor's text (a class name, a title, a store message) shown as itself inside Markdown, on one line:
    every ASCII punctuation mark escaped, so no link, emphasis, icon (:material/...:), formula or autolinked
    www.address can form."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(str(text).split()))


def get_store() -> Store:
    """The process's store (``app.resources.get_store``: one per database URL, shared with the other pages)."""
    return resources.get_store()


def edit_allowed(store: Store, room_id: str, token: str | None) -> bool:
    """Whether ``token`` is the room's edit token; changes nothing (``Store.check_edit_token``, constant-time).
    A room deleted since the caller read it has no edit token left: False."""
    if not token:
        return False
    try:
        return store.check_edit_token(room_id, token)
    except NotFound:
        return False


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` (error correction M: a smudged projector still reads) as PNG bytes."""
    import segno

    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=QR_SCALE, border=4, dark="#000000", light="#ffffff")
    return buf.getvalue()


def sheet(pictures: list[np.ndarray], per_row: int, tile: int = 56, gap: int = 4) -> bytes:
    """Thumbnails (28x28 uint8, as the models see them) on one grey PNG, ``per_row`` to a row, pixels sharp:
    one image per class keeps the presenter's refresh light however many pictures arrive."""
    rows = max(1, -(-len(pictures) // per_row))
    cols = min(per_row, max(1, len(pictures)))
    out = np.full((rows * (tile + gap) - gap, cols * (tile + gap) - gap), 255, np.uint8)
    for i, arr in enumerate(pictures):
        r, c = divmod(i, per_row)
        big = np.array(Image.fromarray(arr).resize((tile, tile), Image.NEAREST))
        big[[0, -1], :] = big[:, [0, -1]] = 150  # a thin frame: white paper on a white page still shows
        out[r * (tile + gap) : r * (tile + gap) + tile, c * (tile + gap) : c * (tile + gap) + tile] = big
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG")
    return buf.getvalue()


def as_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].numpy() * 255).astype(np.uint8)


def thumbnail_url(x: torch.Tensor) -> str:
    """(1, 28, 28) in [0, 1] -> a PNG data URL, twice the size with sharp pixels (for a table's image column)."""
    buf = io.BytesIO()
    Image.fromarray(as_uint8(x)).resize((56, 56), Image.NEAREST).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# ---- the room's task, as the models see it ------------------------------------------------------------------


def thumbnails(images, pngs: dict[int, bytes], polarity: str, cache: DecodeCache | None = None) -> list[np.ndarray]:
    """Stored images as the models see them, 28x28 uint8 (grey where one cannot be read: the store re-encodes
    every image it takes, so only a damaged database holds one)."""
    out = []
    for image in images:
        try:
            out.append(as_uint8(decode(Picture(image.name, pngs.get(image.id, b"")), polarity, cache)))
        except ImageError:
            out.append(np.full((28, 28), 128, np.uint8))
    return out


def room_task(snap: RoomSnapshot, pngs: dict[int, bytes]) -> tuple[list[TaskClass], list[Picture]]:
    """The snapshot's classes and queries as the own task's TaskClass and Picture lists (images in the order
    they arrived); an image whose bytes are not in ``pngs`` (removed meanwhile) is left out."""
    classes = [TaskClass(c.name, [Picture(i.name, pngs[i.id]) for i in c.images if i.id in pngs]) for c in snap.classes]
    return classes, [Picture(q.name, pngs[q.id]) for q in snap.queries if q.id in pngs]


@dataclass
class RoomResult:
    """The three methods on the room's task: a table row per query, and sentences computed from the numbers."""

    rows: list[dict] = field(default_factory=list)  # picture (data URL), query, then one column per method
    shots: int = 0
    notes: list[str] = field(default_factory=list)


def room_predictions(
    classes: list[TaskClass],
    queries: list[Picture],
    polarity: str,
    steps: int,
    models: dict[str, hm.FewShotModel],
    cache: DecodeCache | None = None,
) -> RoomResult:
    """Adapt every method to the room's support set (``app.user_task``: the own task's path) and predict each
    query. Every class needs an image; MAML and HyperMAML are the shipped 5-way models, so they take part only
    in a 5-class room."""
    support_x, support_y, shots, _ = support_set(classes, polarity, cache)
    readable, unreadable = [], []
    for j, q in enumerate(queries):
        try:
            readable.append((j, q, decode(q, polarity, cache)))
        except ImageError:  # stored under older checks (say, a blank photo before blanks were refused)
            unreadable.append(f"{j + 1}. {q.name}")
    result = RoomResult(shots=shots)
    if unreadable:
        result.notes.append(f"Left out, as the models cannot read them: {', '.join(unreadable)}.")
    if len(classes) != N_WAY:
        models = {m: v for m, v in models.items() if m == "protonet"}
        result.notes.append(
            f"MAML and HyperMAML here learned {N_WAY}-way tasks, so they need {N_WAY} classes; this room has "
            f"{len(classes)}. ProtoNet compares each picture with every class's mean and works with any number."
        )
    names = [c.name for c in classes]
    trained = next(iter(models.values())).config.n_shot
    uneven = shot_message(names, readable_counts(classes, polarity, cache), trained)
    if uneven:
        result.notes.append(uneven)
    if not readable:
        return result
    probs = predict(models, support_x, support_y, torch.stack([x for _, _, x in readable]), steps)
    if "hypermaml" in models and "hypermaml" not in probs:
        result.notes.append(
            f"HyperMAML is left out: this model takes exactly {counted(trained, 'image')} per class, and the room gives {shots}."
        )
    labels = [method_label(m, steps) for m in probs]
    rows = results_rows([f"{j + 1}. {q.name}" for j, q, _ in readable], names, probs, steps)
    for row, (_, _, x) in zip(rows, readable):
        result.rows.append(
            {
                "picture": thumbnail_url(x),
                "query": row["query"],
                **{k: f"{row[k]} ({row[k + ' probability']:.0%})" for k in labels},
            }
        )
    if len(labels) > 1:
        agree = sum(len({r[k] for k in labels}) == 1 for r in rows)
        result.notes.insert(0, agreement_note(len(labels), agree, len(rows)))
    return result


def agreement_note(n_methods: int, agree: int, n_queries: int) -> str:
    """How many queries every method gives the same class, in words that also read well for one query."""
    if n_queries == 1:
        return f"The {n_methods} methods {'agree' if agree else 'do not agree'} on the one query."
    return f"The {n_methods} methods agree on {agree} of the {n_queries} queries."


# ---- a student's addition -----------------------------------------------------------------------------------


def add_to_room(store: Store, room_id: str, target: int | str, data: bytes, name: str, visitor: str) -> tuple[str, str]:
    """Store one picture in the room at once; returns ("success" | "closed" | "error", a sentence to show as text).
    The store's refusals (closed, full, too fast, not a picture) are shown in its own words."""
    try:
        store.add_image(room_id, target, data, visitor, name=name)
    except RoomClosed as exc:  # the teacher closed the room: the page says so in its own notice
        return "closed", str(exc)
    except StoreError as exc:
        return "error", str(exc)
    return "success", ""


def drawing_bytes(drawing) -> bytes:
    """The canvas's {id, png: data URL} -> PNG bytes, or ``ImageError`` with a sentence to show."""
    return picture_from_data_url(drawing.get("png") if isinstance(drawing, dict) else None, "drawing.png").data


TARGET_QUERIES = QUERIES  # the class picker's last option: a picture for the models to guess


# ---- a drawing pad for a finger on a phone: Streamlit's inline components (v2), no extra package ------------

PAD_HTML = """
<div class="pad">
  <canvas width="280" height="280" aria-label="Drawing area: draw one picture with your finger"></canvas>
  <div class="row">
    <button class="add" type="button">Add</button>
    <button class="clear" type="button">Clear</button>
  </div>
  <div class="msg" aria-live="polite"></div>
</div>
"""
PAD_CSS = """
.pad { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #31333f); max-width: 340px; }
canvas { display: block; box-sizing: border-box; width: 100%; aspect-ratio: 1; background: #fff; touch-action: none; cursor: crosshair;
         border: 2px solid var(--st-border-color, #d5d5d9); border-radius: 0.75rem; }
.row { display: flex; gap: 0.5rem; margin-top: 0.5rem; }
button { font: inherit; font-size: 1.05rem; min-height: 3rem; padding: 0 1rem; border-radius: 0.6rem; cursor: pointer;
         border: 1px solid var(--st-border-color, #d5d5d9); color: inherit;
         background: var(--st-secondary-background-color, #f0f2f6); }
button.add { flex: 1; background: var(--st-primary-color, #ff4b4b); border-color: transparent; color: #fff;
             font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.msg { min-height: 1.4rem; margin-top: 0.4rem; font-size: 1rem; line-height: 1.35; }
.msg.ok { color: var(--st-green-text-color, #158237); font-weight: 600; }
.msg.err { color: var(--st-red-text-color, #bd4043); }
"""
# The drawing is sent with an id and stays on the pad until the page confirms that id (``data.done``): a drawing
# sent while the connection is down, or refused, is still there to send again. The page's answer (``data.msg``,
# shown once per ``data.msgId``) appears under the button, where a phone's screen still shows it.
PAD_JS = (
    PEN_JS
    + """
export default function (component) {
  const { parentElement, setStateValue, data } = component;
  const canvas = parentElement.querySelector("canvas");
  const msg = parentElement.querySelector(".msg");
  const add = parentElement.querySelector(".add");
  const say = (text) => { msg.textContent = text; msg.className = "msg"; };
  const blank = attachPen(canvas, 20, () => say(""));
  add.textContent = (data && data.label) || "Add";
  if (data && data.done && data.done === canvas.dataset.pending) { blank(); canvas.dataset.pending = ""; }
  if (data && data.msg && String(data.msgId) !== msg.dataset.shown) {  // the page's word on the last drawing
    msg.textContent = data.msg;
    msg.className = "msg " + (data.kind === "success" ? "ok" : "err");
    msg.dataset.shown = String(data.msgId);
  }
  parentElement.querySelector(".clear").onclick = () => { blank(); canvas.dataset.pending = ""; say(""); };
  add.onclick = () => {
    if (canvas.dataset.empty) { say("Draw something first."); return; }
    const id = Date.now() + "-" + Math.random().toString(36).slice(2);
    canvas.dataset.pending = id;
    setStateValue("drawing", { id, png: canvas.toDataURL("image/png") });
    say("Sending ...");
  };
}
"""
)


def drawing_pad():
    """The pad's mounting command (registered on every run: the registry belongs to the server's runtime, and
    registering the same definition again is silent)."""
    return st.components.v2.component("hypermaml_room_pad", html=PAD_HTML, css=PAD_CSS, js=PAD_JS)
