"""Widgets and helpers of the page "Your own task" (``app/views/own_task.py``): adding pictures (uploads, the
zip, the drawing canvas), removing them, thumbnails. Importing this module shows nothing: the page calls these."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import streamlit as st
import torch
from PIL import Image

from app.drawing_pen import PEN_JS
from app.task_zip import QUERIES_FOLDER, add_zip_to_task, read_task_zip, zip_class_count_error
from app.user_task import (
    MAX_UPLOAD_BYTES,
    N_WAY,
    Picture,
    counted,
    decode,
    drop_removed_uploads,
    held_bytes,
    task_is_blank,
)
from hypermaml.data import ImageError
from hypermaml.data.folders import IMAGE_SUFFIXES

ACCEPT = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)  # the readers' list, not a second one
TARGETS = [f"class{i}" for i in range(N_WAY)] + ["queries"]  # where pictures go; each has its own uploader

state = st.session_state


def md(text: str) -> str:
    """A user's file or class name, safe inside Markdown (an underscore must not start italics)."""
    return re.sub(r"([\\`*_\[\]<>#|~$])", r"\\\1", text)


def plain(text: str) -> str:
    """Another visitor's text (a saved task's title, a store's message naming it) as itself, on one line: every
    ASCII punctuation mark escaped, so no link, emphasis, icon or autolinked address can form."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(str(text).split()))


def pictures_of(target: str) -> list[Picture]:
    return state.own_queries if target == "queries" else state.own_classes[int(target[5:])].pictures


def target_label(target: str) -> str:
    return "the queries" if target == "queries" else f"'{state.own_classes[int(target[5:])].name}'"


def add_picture(target: str, picture: Picture) -> bool:
    """Add unless the same bytes are already there; returns whether it was added."""
    if target != "queries":
        return state.own_classes[int(target[5:])].add(picture)
    if any(p.key == picture.key for p in state.own_queries):
        return False
    state.own_queries.append(picture)
    return True


def target_choice(label: str, key: str) -> str:
    """A class or the queries, chosen by its number and name (plain strings: unique even if names repeat).
    On a saved task opened read-only, always the queries: its classes do not change."""
    read_only = state.own_saved is not None and state.own_saved["token"] is None  # as the page has it
    if read_only:
        st.caption("It becomes one of your queries (this saved task's classes stay as they were saved).")
        return "queries"
    options = [f"{i + 1}. {c.name}" for i, c in enumerate(state.own_classes)] + ["queries"]
    chosen = state.get(f"{key}_target")
    if chosen in TARGETS and state.get(key) not in options:  # its class was renamed: keep that class chosen
        state[key] = options[TARGETS.index(chosen)]
    target = TARGETS[options.index(st.selectbox(label, options, key=key))]
    state[f"{key}_target"] = target
    return target


def uploader_key(target: str) -> str:
    return f"own_up_{target}_{state.own_gen.get(target, 0)}"


def reset_uploader(target: str) -> None:
    """A new, empty uploader for ``target`` (its files stay in the task, no longer tied to the uploader)."""
    state.own_gen[target] = state.own_gen.get(target, 0) + 1
    state.own_links.pop(target, None)


def unlink(target: str, keys: set[str]) -> None:
    """Pictures left ``target`` by other means than the uploader's ×: an uploader still listing them would
    show files the task no longer has, so it starts empty."""
    if any(k in keys for k in state.own_links.get(target, {}).values()):
        reset_uploader(target)


# this run's refusals, shown with the unusable images in one message: ``state.own_not_added``, new each page run


def take_uploads(target: str, files, fresh: bool) -> None:
    """Mirror an uploader into the task: new files are copied in once (the uploader keeps returning them),
    files removed with the uploader's × leave the task. ``fresh``: the uploader was just created (first
    visit, or back from another page), so an empty list means nothing was removed."""
    links = state.own_links.setdefault(target, {})
    if fresh:
        links.clear()
    removed = drop_removed_uploads(pictures_of(target), links, {f.file_id for f in files or []})
    if removed:
        st.toast(f"Removed {', '.join(removed)} from {target_label(target)}.")
    for f in files or []:
        if f.file_id in state.own_seen_uploads:
            continue
        state.own_seen_uploads.add(f.file_id)
        if within_limit(f.name, f.size if hasattr(f, "size") else len(f.getvalue())):
            picture = Picture(f.name, f.getvalue())
            if add_picture(target, picture):
                links[f.file_id] = picture.key


def within_limit(name: str, size: int) -> bool:
    not_added = state.own_not_added
    if held_bytes(state.own_classes, state.own_queries) + size <= MAX_UPLOAD_BYTES:
        return True
    not_added.append(
        f"{md(name)} was not added: your images would pass {MAX_UPLOAD_BYTES // 2**20} MB, the limit per visitor on "
        "this shared server. Remove some images (or use smaller ones) and add it again."
    )
    return False


def uploader(target: str, label: str) -> None:
    """The uploader of ``target``, and right under it what went wrong with its files (the full list of unusable
    pictures also sits under the support set, far below a class's uploader)."""
    not_added = state.own_not_added
    key = uploader_key(target)
    fresh = key not in state
    files = st.file_uploader(label, type=ACCEPT, accept_multiple_files=True, key=key)
    start = len(not_added)
    take_uploads(target, files, fresh)
    errors_here(start, target)


def refusals_here(start: int, more: list[str] | None = None) -> None:
    """Where a picture was given: the refusals since ``not_added[start]`` (taken out of the message further
    down, out of view), then ``more``, in one message."""
    not_added = state.own_not_added
    lines = not_added[start:] + (more or [])
    del not_added[start:]
    if lines:
        st.error(lines[0] if len(lines) == 1 else "\n".join(f"- {line}" for line in lines))


def errors_here(start: int, target: str) -> None:
    """Under an uploader: its refusals since ``not_added[start]`` and the pictures it added that cannot be used."""
    polarity = state.own_polarity  # the page's Polarity radio
    lines = []
    from_uploader = set(state.own_links.get(target, {}).values())
    for p in pictures_of(target):
        if p.key in from_uploader:
            try:
                decode(p, polarity, state.own_decoded)
            except ImageError as exc:
                lines.append(f"{md(str(exc))}: remove it with its × above.")
    refusals_here(start, lines)


# ---- the zip: replace the task, or add to it --------------------------------------------------------------


def zip_key() -> str:
    return f"own_zip_{state.own_gen.get('zip', 0)}"


def on_zip() -> None:
    """on_change of the zip uploader: runs before the page, so it may set the class-name boxes."""
    state.pop("own_zip_pending", None)
    state.pop("own_zip_message", None)
    archive = state.get(zip_key())
    if archive is None:
        return
    try:
        contents = read_task_zip(archive.getvalue())
    except ImageError as exc:
        text = str(exc)
        state.own_zip_message = ("error", f"{text[:1].upper()}{text[1:]}. Nothing was changed.")
        return
    state.own_zip_pending = (archive.name, contents)
    if task_is_blank(state.own_classes, state.own_queries):  # nothing to lose: no need to ask
        apply_zip("replace" if zip_class_count_error(contents) is None else "add")


def apply_zip(how: str) -> None:
    """Button callback (or on_zip's): replace the task with the pending zip, or add its images to it."""
    name, contents = state.pop("own_zip_pending")
    state.own_gen["zip"] = state.own_gen.get("zip", 0) + 1  # an empty zip box: the same zip can be loaded again
    if how == "replace":
        error = zip_class_count_error(contents)
        if error:
            state.own_zip_message = ("error", f"{error[:1].upper()}{error[1:]}. Nothing was changed.")
            return
        if contents.n_bytes > MAX_UPLOAD_BYTES:
            state.own_zip_message = (
                "error",
                f"{name} holds more than {MAX_UPLOAD_BYTES // 2**20} MB of images. Nothing was changed.",
            )
            return
        state.own_classes, state.own_queries = contents.classes, contents.queries
        for target in TARGETS:
            reset_uploader(target)
        kind, message = "success", f"Your task is now the zip's: {contents.summary()}."
    else:
        if held_bytes(state.own_classes, state.own_queries) + contents.n_bytes > MAX_UPLOAD_BYTES:
            state.own_zip_message = (
                "error",
                f"With {name} your images would pass {MAX_UPLOAD_BYTES // 2**20} MB, the limit per visitor. Nothing was changed.",
            )
            return
        message = add_zip_to_task(state.own_classes, state.own_queries, contents)
        kind = "warning" if "Not added" in message or message.startswith("Nothing") else "success"
    for i, c in enumerate(state.own_classes):
        state[f"own_name_{i}"] = c.name
    if contents.skipped:
        shown = ", ".join(contents.skipped[:5]) + (" ..." if len(contents.skipped) > 5 else "")
        many = len(contents.skipped) > 1
        message += (
            f" Skipped {len(contents.skipped)} file{'s that are not images' if many else ' that is not an image'} we "
            f"can open ({shown}): use PNG or JPEG."
        )
    state.own_zip_message = (kind, f"{name}: {message}")


def cancel_zip() -> None:
    state.pop("own_zip_pending", None)
    state.own_zip_message = ("info", "The zip was not loaded; your task is unchanged.")
    state.own_gen["zip"] = state.own_gen.get("zip", 0) + 1


def upload_tab() -> None:
    # One class per tab: each uploader gets the full width (five side by side overflow at 1024 px).
    for i, tab in enumerate(st.tabs([f"Class {i + 1}" for i in range(N_WAY)])):
        with tab:
            st.text_input(f"Class {i + 1} name", key=f"own_name_{i}")
            state.own_classes[i].name = state[f"own_name_{i}"]
            uploader(f"class{i}", f"Images of class {i + 1}")


def zip_tab() -> None:
    st.file_uploader(
        "A zip with a folder of images per class (the folder names become the class names)",
        type=["zip"],
        key=zip_key(),
        on_change=on_zip,
        help=f"Optionally a folder named '{QUERIES_FOLDER}' with query images. A task downloaded here loads back whole.",
    )
    pending = state.get("own_zip_pending")
    if pending:
        name, contents = pending
        st.info(f"**{md(name)}** holds {md(contents.summary())}. Your task already has images or names: what should happen?")
        replace_error = zip_class_count_error(contents)
        row = st.container(horizontal=True)  # side by side where they fit, else one under the other
        row.button(
            "Replace my task with the zip",
            key="own_zip_replace",
            on_click=apply_zip,
            args=("replace",),
            disabled=replace_error is not None,
            help="Every class, name and query you have now is dropped.",
        )
        row.button(
            "Add the zip's images to my classes",
            key="own_zip_add",
            on_click=apply_zip,
            args=("add",),
            help="A folder goes to the class of the same name; other folders fill empty, unnamed classes.",
        )
        row.button("Cancel", key="own_zip_cancel", on_click=cancel_zip)
        if replace_error:
            st.caption(f"Replacing is not possible: {md(replace_error)}.")
    if state.get("own_zip_message"):
        kind, message = state.own_zip_message
        {"success": st.success, "warning": st.warning, "info": st.info}.get(kind, st.error)(md(message))


# ---- removing pictures ------------------------------------------------------------------------------------


def remove_chosen(target: str) -> None:
    keys = set(state.get(f"own_rm_{target}", []))
    pictures = pictures_of(target)
    gone = [p.name for p in pictures if p.key in keys]
    pictures[:] = [p for p in pictures if p.key not in keys]
    state[f"own_rm_{target}"] = []
    unlink(target, keys)
    if gone:
        state.own_flash = f"Removed {', '.join(gone)} from {target_label(target)}."


def clear(target: str) -> None:
    pictures = pictures_of(target)
    keys = {p.key for p in pictures}
    n = len(pictures)
    pictures.clear()
    state[f"own_rm_{target}"] = []
    unlink(target, keys)
    state.own_flash = f"Removed all {counted(n, 'image')} from {target_label(target)}."


def remove_controls(target: str) -> None:
    """A small "Remove" menu: any of the pictures by number and name, or all of them."""
    pictures = pictures_of(target)
    labels = {p.key: f"{j + 1} · {p.name}" for j, p in enumerate(pictures)}
    with st.popover("", icon=":material/delete:", help="Remove images", key=f"own_edit_{target}"):
        st.multiselect(
            "Images to remove (numbered as under the thumbnails)",
            list(labels),
            format_func=labels.__getitem__,
            key=f"own_rm_{target}",
            placeholder="Choose images",
        )
        st.button("Remove the chosen images", key=f"own_rm_btn_{target}", on_click=remove_chosen, args=(target,))
        st.button(f"Remove all {len(pictures)}", key=f"own_clear_{target}", on_click=clear, args=(target,))


# (target, "where: why") for every picture that cannot be used, shown once at full width: ``state.own_unusable``,
# new each run


def show(target: str, pictures: list[Picture], width: int = 48) -> None:
    """Thumbnails as the model sees them, numbered; unusable files are collected for one message below."""
    polarity, unusable = state.own_polarity, state.own_unusable  # the page's Polarity radio; this run's list
    good, captions = [], []
    for j, p in enumerate(pictures):
        try:
            good.append((decode(p, polarity, state.own_decoded)[0].numpy() * 255).astype(np.uint8))
            captions.append(str(j + 1))
        except ImageError as exc:
            unusable.append((target, f"{md(target_label(target))}, image {j + 1}: {md(str(exc))}"))
    if good:
        st.image(good, caption=captions, width=width)


def thumbnail_url(x: torch.Tensor) -> str:
    """(1, 28, 28) in [0, 1] -> a PNG data URL (twice the size, pixels kept sharp) for the results table."""
    arr = (x[0].numpy() * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).resize((56, 56), Image.NEAREST).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# ---- the drawing canvas: an inline component (Streamlit's components v2), no extra package -----------------

CANVAS_HTML = """
<div class="pad">
  <canvas width="280" height="280" aria-label="Drawing area: draw one character"></canvas>
  <div class="row">
    <button class="add" type="button">Add drawing</button>
    <button class="clear" type="button">Clear</button>
    <span class="msg" aria-live="polite"></span>
  </div>
</div>
"""
CANVAS_CSS = """
.pad { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #31333f); }
canvas { display: block; box-sizing: border-box; width: min(280px, 100%); aspect-ratio: 1; background: #fff; cursor: crosshair;
         border: 1px solid var(--st-border-color, #d5d5d9); border-radius: 0.5rem; touch-action: none; }
.row { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-top: 0.5rem; }
button { font: inherit; font-size: 0.9rem; padding: 0.3rem 0.8rem; border-radius: 0.5rem; cursor: pointer;
         border: 1px solid var(--st-border-color, #d5d5d9); color: inherit;
         background: var(--st-secondary-background-color, #f0f2f6); }
button.add { background: var(--st-primary-color, #ff4b4b); border-color: transparent; color: #fff; }
.msg { font-size: 0.85rem; opacity: 0.75; }
"""
CANVAS_JS = (
    PEN_JS
    + """
export default function (component) {
  const { parentElement, setStateValue } = component;
  const canvas = parentElement.querySelector("canvas");
  const msg = parentElement.querySelector(".msg");
  // strokes of 18 on the 280 px canvas: about 2 px at the models' 28 px
  const blank = attachPen(canvas, 18, () => { msg.textContent = ""; });
  parentElement.querySelector(".clear").onclick = () => { blank(); msg.textContent = ""; };
  parentElement.querySelector(".add").onclick = () => {
    if (canvas.dataset.empty) { msg.textContent = "Draw something first."; return; }
    const id = Date.now() + "-" + Math.random().toString(36).slice(2);
    setStateValue("drawing", { id, png: canvas.toDataURL("image/png") });
    blank();
    msg.textContent = "Added. Draw the next one.";
  };
}
"""
)
