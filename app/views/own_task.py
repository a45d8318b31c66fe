"""Your own 5-way task: five classes of your images, then queries; every method's predictions."""

from __future__ import annotations

import base64
import functools
import io
import re

import numpy as np
import streamlit as st
import torch
from PIL import Image

from app import url_state
from app.resources import benchmark_models
from app.user_task import (
    MAX_UPLOAD_BYTES,
    N_WAY,
    QUERIES_FOLDER,
    DecodeCache,
    Picture,
    TaskClass,
    add_zip_to_task,
    decode,
    drop_removed_uploads,
    empty_task,
    held_bytes,
    method_label,
    picture_from_data_url,
    predict,
    problems,
    read_task_zip,
    readable_counts,
    results_rows,
    shot_message,
    support_set,
    task_is_blank,
    task_zip,
    to_csv,
    zip_class_count_error,
)
from hypermaml.data import ImageError
from hypermaml.data.folders import IMAGE_SUFFIXES

ACCEPT = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)  # the readers' list, not a second one
TARGETS = [f"class{i}" for i in range(N_WAY)] + ["queries"]  # where pictures go; each has its own uploader

state = st.session_state
state.setdefault("own_classes", empty_task())
state.setdefault("own_queries", [])
state.setdefault("own_seen_uploads", set())  # upload ids already copied into the task
state.setdefault("own_decoded", DecodeCache())  # this visitor's decoded pictures, bounded in bytes
state.setdefault("own_links", {})  # target -> {file id: picture key}: what that target's uploader added
state.setdefault("own_gen", {})  # uploader -> generation, part of its key: a new generation is an empty uploader
state.setdefault("own_drawings_taken", set())  # ids of drawings the canvas sent that are already added
for _i, _c in enumerate(state.own_classes):
    state.setdefault(f"own_name_{_i}", _c.name)
    _c.name = state[f"own_name_{_i}"]  # the name box's value, before anything below reads the names


def md(text: str) -> str:
    """A user's file or class name, safe inside Markdown (an underscore must not start italics)."""
    return re.sub(r"([\\`*_\[\]<>#|~$])", r"\\\1", text)


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
    """A class or the queries, chosen by its number and name (plain strings: unique even if names repeat)."""
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


not_added: list[str] = []  # this run's refusals, shown with the unusable images in one message


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
    if held_bytes(state.own_classes, state.own_queries) + size <= MAX_UPLOAD_BYTES:
        return True
    not_added.append(
        f"{md(name)} was not added: your images would pass {MAX_UPLOAD_BYTES // 2**20} MB, the limit per visitor on "
        "this shared server. Remove some images (or use smaller ones) and add it again."
    )
    return False


def uploader(target: str, label: str) -> None:
    key = uploader_key(target)
    fresh = key not in state
    files = st.file_uploader(label, type=ACCEPT, accept_multiple_files=True, key=key)
    take_uploads(target, files, fresh)


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
    state.own_flash = f"Removed all {n} image{'s' if n != 1 else ''} from {target_label(target)}."


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


unusable: list[str] = []  # "where: why" for every picture that cannot be used, shown once at full width


def show(target: str, pictures: list[Picture], width: int = 48) -> None:
    """Thumbnails as the model sees them, numbered; unusable files are collected for one message below."""
    good, captions = [], []
    for j, p in enumerate(pictures):
        try:
            good.append((decode(p, polarity, state.own_decoded)[0].numpy() * 255).astype(np.uint8))
            captions.append(str(j + 1))
        except ImageError as exc:
            unusable.append(f"{md(target_label(target))}, image {j + 1}: {md(str(exc))}")
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
canvas { display: block; width: min(280px, 100%); aspect-ratio: 1; background: #fff; cursor: crosshair;
         border: 1px solid var(--st-border-color, #d5d5d9); border-radius: 0.5rem; touch-action: none; }
.row { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-top: 0.5rem; }
button { font: inherit; font-size: 0.9rem; padding: 0.3rem 0.8rem; border-radius: 0.5rem; cursor: pointer;
         border: 1px solid var(--st-border-color, #d5d5d9); color: inherit;
         background: var(--st-secondary-background-color, #f0f2f6); }
button.add { background: var(--st-primary-color, #ff4b4b); border-color: transparent; color: #fff; }
.msg { font-size: 0.85rem; opacity: 0.75; }
"""
CANVAS_JS = """
export default function (component) {
  const { parentElement, setStateValue } = component;
  const canvas = parentElement.querySelector("canvas");
  const msg = parentElement.querySelector(".msg");
  const ctx = canvas.getContext("2d");
  const SIZE = canvas.width, WIDTH = 18;  // 280 px, strokes of 18: about 2 px at the models' 28 px
  const blank = () => {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, SIZE, SIZE);
    canvas.dataset.empty = "1";
  };
  if (!canvas.dataset.ready) { blank(); canvas.dataset.ready = "1"; }  // a rerun keeps what is drawn
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * SIZE) / r.width, ((e.clientY - r.top) * SIZE) / r.height];
  };
  let last = null;
  canvas.onpointerdown = (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    ctx.fillStyle = "#000000";
    ctx.beginPath();
    ctx.arc(last[0], last[1], WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
    canvas.dataset.empty = "";
    msg.textContent = "";
  };
  canvas.onpointermove = (e) => {
    if (!last) return;
    const p = at(e);
    ctx.strokeStyle = "#000000";
    ctx.lineWidth = WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
  };
  canvas.onpointerup = canvas.onpointercancel = () => { last = null; };
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
draw_canvas = st.components.v2.component("hypermaml_drawing_canvas", html=CANVAS_HTML, css=CANVAS_CSS, js=CANVAS_JS)


# ---- a saved task, named by the link ------------------------------------------------------------------------

TASK_ID = r"[A-Za-z0-9_-]{22}"  # the store's ids: secrets.token_urlsafe(16), 128 random bits


def load_saved_task(task_id: str) -> bool:
    """HOOK for the store (app/store): put the saved task ``task_id`` on this page; False when there is none.

    Not wired yet, so no id is known and the page says so. Wiring it: ``Store.load_task(task_id)`` (``NotFound``
    -> False), then set ``state.own_classes`` and ``state.own_queries`` (Pictures from the stored PNGs),
    ``state.own_polarity``, each class-name box ``state[f"own_name_{i}"]``, and ``reset_uploader`` every
    target. It runs before any widget of the page, so it may set them all.
    """
    return False


# ---- the page -----------------------------------------------------------------------------------------------

view = url_state.View(
    "own_task",
    [
        url_state.pattern(
            "task", "own_task_id", "A saved task", TASK_ID, "an id of 22 letters, digits, '-' or '_' (was the link cut short?)"
        ),
        url_state.choice("polarity", "own_polarity", "Polarity", "auto", {p: p for p in ("auto", "keep", "invert")}),
        url_state.integer("steps", "own_maml_steps", "MAML inner steps", 5, 0, 10),
    ],
)
view.header("Your own 5-way task")
if state.own_task_id is not None and state.get("own_task_loaded") != state.own_task_id:
    if load_saved_task(state.own_task_id):
        state.own_task_loaded = state.own_task_id
    else:
        view.note(
            f"No saved task has the id **{url_state.plain(state.own_task_id)}**: it may have expired or been "
            "deleted, or the link was cut short. Ask whoever shared it for a new link; meanwhile you can build a "
            "task of your own here."
        )
        state.own_task_id = None  # out of the URL: the note is said once
st.caption(
    "Give five classes a name and a few images each (per-class uploads, one zip with a folder per class, the "
    "camera, or drawing), then add query images. Images are shown the way the models see them: 28×28, dark ink "
    "on a light background. Each query is classified on its own: the models normalise with your support images "
    "and that picture only, so a prediction never depends on the other queries you add."
)
st.info(
    "Your task lives only in this browser tab: **reloading the page or closing the tab loses it.** "
    "Download it to keep it; loading that zip under “One zip” brings it back.",
    icon=":material/info:",
)
download_slot = st.container()  # always there: an element appearing above the tabs would reset the open tab
if not task_is_blank(state.own_classes, state.own_queries):
    download_slot.download_button(
        "Download this task (zip)",
        # a snapshot, zipped only when clicked (on another thread: it must not see later changes)
        data=functools.partial(
            task_zip, [TaskClass(c.name, list(c.pictures)) for c in state.own_classes], list(state.own_queries)
        ),
        file_name="my-5-way-task.zip",
        mime="application/zip",
        on_click="ignore",
        icon=":material/download:",
        key="own_download_task",
    )
if "own_flash" in state:
    st.toast(state.pop("own_flash"))

polarity = st.radio(
    "Polarity",
    ["auto", "keep", "invert"],
    horizontal=True,
    key="own_polarity",
    help="The models expect dark ink on light paper. 'auto' inverts pictures whose paper is darker than their ink.",
)
view.write()  # the page may stop below (a task not ready yet); MAML's steps, further down, write again

tab_upload, tab_zip, tab_camera, tab_draw = st.tabs(["Upload per class", "One zip", "Camera", "Draw"])
with tab_upload:
    # One class per tab: each uploader gets the full width (five side by side overflow at 1024 px).
    for i, tab in enumerate(st.tabs([f"Class {i + 1}" for i in range(N_WAY)])):
        with tab:
            st.text_input(f"Class {i + 1} name", key=f"own_name_{i}")
            state.own_classes[i].name = state[f"own_name_{i}"]
            uploader(f"class{i}", f"Images of class {i + 1}")
with tab_zip:
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
with tab_camera:
    if url_state.insecure_origin():  # the browser would not even ask: say why, and what works instead
        st.warning(
            "**The camera is off on this page.** Browsers only allow a camera on *https://* pages or on the "
            "computer that runs the studio, and this page came over plain *http://* from another device. Ask your "
            "teacher to start the studio with `HTTPS=1 ./run_app.sh` (see *Serve it to your class* in the README), "
            "then open the *https://* address it prints.  \n"
            "Until then: take the photo with your device's camera and add it under *Upload per class* (on a phone "
            "or tablet, that button offers the camera directly), or use *Draw*.",
            icon=":material/no_photography:",
        )
        shot = None
    else:
        st.markdown(
            "**For a picture the models can read:** one character, drawn with a thick dark marker on white paper, "
            "filling most of the frame, in good even light (no shadow across it).  \n"
            "The browser first asks for permission: if the box only says *This app would like to use your camera*, "
            "allow the camera for this site (the icon in the address bar), or there is no camera here: use "
            "*Upload per class* or *Draw* instead."
        )
        cam_target = target_choice("Add the photo to", "own_cam_target")
        shot = st.camera_input("Take a picture", key="own_camera")
    if shot is not None and shot.file_id not in state.own_seen_uploads:
        state.own_seen_uploads.add(shot.file_id)
        if within_limit(shot.name, shot.size):
            photo = Picture(f"photo-{len(state.own_seen_uploads)}.jpg", shot.getvalue())
            if add_picture(cam_target, photo):
                st.success(f"Added {photo.name} to {md(target_label(cam_target))}.")
with tab_draw:
    draw_target = target_choice("Add the drawing to", "own_draw_target")
    st.caption(
        "Draw one character with the mouse, a finger or a pen, then *Add drawing*. Dark strokes on white, as the models expect."
    )
    drawing = draw_canvas(key="own_draw", on_drawing_change=lambda: None, width="content").get("drawing")
    if isinstance(drawing, dict) and drawing.get("id") and drawing["id"] not in state.own_drawings_taken:
        state.own_drawings_taken.add(drawing["id"])
        try:
            sketch = picture_from_data_url(drawing.get("png"), f"drawing-{len(state.own_drawings_taken)}.png")
        except ImageError as exc:
            st.error(md(str(exc)))
        else:
            if within_limit(sketch.name, len(sketch.data)) and add_picture(draw_target, sketch):
                st.success(f"Added {sketch.name} to {md(target_label(draw_target))}.")

st.subheader("Support set, as the models see it")
for i, (col, c) in enumerate(zip(st.columns(N_WAY), state.own_classes)):
    with col:
        st.markdown(f"**{md(c.name) or '(no name)'}** · {len(c.pictures)} image(s)")
        show(f"class{i}", c.pictures)
        if c.pictures:
            remove_controls(f"class{i}")

st.subheader("Queries")
uploader("queries", "Query images")
show("queries", state.own_queries)
if state.own_queries:
    remove_controls("queries")

if unusable or not_added:
    lines = [f"- {m}" for m in not_added + unusable]
    head = (
        f"**{len(unusable)} image{'s' if len(unusable) != 1 else ''} cannot be used and "
        f"{'are' if len(unusable) != 1 else 'is'} left out** (remove {'them' if len(unusable) != 1 else 'it'} with "
        "the :material/delete: button under the class):"
        if unusable
        else "**Not added:**"
    )
    st.error(head + "\n" + "\n".join(lines))
animated = [p.name for c in state.own_classes for p in c.pictures if p.animated] + [
    p.name for p in state.own_queries if p.animated
]
if animated:
    st.info(
        "Animated: " + ", ".join(md(n) for n in animated) + f" {'has' if len(animated) == 1 else 'have'} several "
        "frames; only the first frame is used."
    )

issues = problems(state.own_classes)
if issues:
    st.warning("**Before the models can run:**\n" + "\n".join(f"- {md(m)}" for m in issues))
    st.stop()
if not state.own_queries:
    st.info("Add query images to see the predictions.")
    st.stop()

try:
    support_x, support_y, shots, notes = support_set(state.own_classes, polarity, state.own_decoded)
    readable = []
    for p in state.own_queries:
        try:
            readable.append((p.name, decode(p, polarity, state.own_decoded)))
        except ImageError:
            pass  # already named in the message above
    if not readable:
        st.warning("None of the query images can be used (see above): add queries as PNG or JPEG.")
        st.stop()
except ImageError as exc:
    st.error(f"{md(str(exc))}: remove that class's images and add them again as PNG or JPEG.")
    st.stop()
for note in notes:
    if "unreadable" in note:
        st.caption(md(note))

models = benchmark_models(5) or benchmark_models(1)
trained_shots = next(iter(models.values())).config.n_shot
class_names = [c.name.strip() for c in state.own_classes]
uneven = shot_message(class_names, readable_counts(state.own_classes, polarity, state.own_decoded), trained_shots)
if uneven:
    st.warning(md(uneven), icon=":material/warning:")
elif shots < trained_shots:
    st.caption(f"The models here were trained on {trained_shots} images per class; with {shots} they are less sure.")
maml_steps = st.slider("MAML inner steps", 0, 10, key="own_maml_steps") if "maml" in models else 0
view.write()
query_x = torch.stack([t for _, t in readable])
# The last result, per visitor: a rerun that changes nothing the models see (the CSV download, a name edit)
# shows it again instead of adapting every model anew.
prediction_key = (
    tuple(p.key for c in state.own_classes for p in c.pictures),
    tuple(p.key for p in state.own_queries),
    polarity,
    maml_steps,
    tuple(sorted(models)),
)
if state.get("own_prediction_key") != prediction_key:
    state.own_prediction = predict(models, support_x, support_y, query_x, maml_steps)
    state.own_prediction_key = prediction_key
probs = state.own_prediction
rows = results_rows([n for n, _ in readable], class_names, probs, maml_steps)
labels = [method_label(m, maml_steps) for m in probs]
shown = [
    {"picture": thumbnail_url(x), "query": row["query"], **{k: f"{row[k]} ({row[k + ' probability']:.0%})" for k in labels}}
    for row, (_, x) in zip(rows, readable)
]
st.subheader(f"Predictions ({shots} shot{'s' if shots > 1 else ''} per class)")
st.caption("Each cell: the class the method picks, and how sure it is (its probability for that class).")
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    height="content",  # the whole table, never a scroll box inside the page
    row_height=60,
    column_config={"picture": st.column_config.ImageColumn("picture", width="small", help="The query as the models see it")},
)
st.download_button("Download the results as CSV", to_csv(rows), file_name="predictions.csv", mime="text/csv")
