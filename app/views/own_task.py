"""Your own 5-way task: five classes of your images, then queries; every method's predictions, how far each
query is from the support set, and (for queries given their true class) each method's accuracy beside chance.

A task can be saved (``app.store``): ``?task=<id>`` opens it read-only for anyone (their own queries stay in
their session), ``?task=<id>&edit=<token>`` lets whoever saved it change or delete it. The token is read and
then taken out of the address bar, so the page's "Link" and a projected address bar show only the view link.
"""

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
from app.resources import benchmark_models, get_store
from app.store import InvalidInput, NotFound, SavedTask, StoreError
from app.store.checks import ID_RE, TOKEN_RE
from app.user_task import (
    MAX_UPLOAD_BYTES,
    N_WAY,
    QUERIES_FOLDER,
    DecodeCache,
    Picture,
    TaskClass,
    accuracies,
    accuracy_note,
    add_zip_to_task,
    decode,
    drop_removed_uploads,
    empty_task,
    familiarity,
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
state.setdefault("own_saved", None)  # the saved task on this page: {"id", "title", "version", "token" (None: read-only)}
state.setdefault("own_truth", {})  # query picture key -> its true class (0..4), as the visitor said; session only
for _i, _c in enumerate(state.own_classes):
    state.setdefault(f"own_name_{_i}", _c.name)
    _c.name = state[f"own_name_{_i}"]  # the name box's value, before anything below reads the names


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
    """The uploader of ``target``, and right under it what went wrong with its files (the full list of unusable
    pictures also sits under the support set, far below a class's uploader)."""
    key = uploader_key(target)
    fresh = key not in state
    files = st.file_uploader(label, type=ACCEPT, accept_multiple_files=True, key=key)
    start = len(not_added)
    take_uploads(target, files, fresh)
    errors_here(start, target)


def refusals_here(start: int, more: list[str] | None = None) -> None:
    """Where a picture was given: the refusals since ``not_added[start]`` (taken out of the message further
    down, out of view), then ``more``, in one message."""
    lines = not_added[start:] + (more or [])
    del not_added[start:]
    if lines:
        st.error(lines[0] if len(lines) == 1 else "\n".join(f"- {line}" for line in lines))


def errors_here(start: int, target: str) -> None:
    """Under an uploader: its refusals since ``not_added[start]`` and the pictures it added that cannot be used."""
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

TASK_ID = ID_RE.pattern  # the store's ids: secrets.token_urlsafe(16), 128 random bits
EDIT_TOKEN = TOKEN_RE.pattern  # its edit tokens: secrets.token_urlsafe(24), 192 random bits


def put_on_page(saved: SavedTask, sent: list[Picture] | None = None) -> None:
    """The saved task's classes, names, queries and polarity become this page's (copies: nothing the visitor
    does here reaches the store). Before any widget of the page, or in a callback. ``sent``: the queries just
    saved, in order: the true classes the visitor gave them follow them (stored, they come back under new keys)."""
    classes, queries = saved.to_session()
    if sent is not None and len(sent) == len(queries):
        for before, after in zip(sent, queries):
            if before.key in state.own_truth:
                state.own_truth[after.key] = state.own_truth[before.key]
    state.own_classes, state.own_queries = classes, queries
    state.own_polarity = saved.polarity
    for i, c in enumerate(classes):
        state[f"own_name_{i}"] = c.name
    for target in TARGETS:
        reset_uploader(target)


def content() -> tuple:
    """What a save stores, as keys: class names, each class's pictures, the queries, the polarity."""
    classes = tuple(
        (state.get(f"own_name_{i}", c.name), tuple(p.key for p in c.pictures)) for i, c in enumerate(state.own_classes)
    )
    return classes, tuple(p.key for p in state.own_queries), state.get("own_polarity")


def load_saved_task(task_id: str) -> bool:
    """Put the saved task ``task_id`` on this page, read-only (``state.own_saved``, token None); False when
    there is none. Other store refusals are raised (``StoreError``, a plain message). Runs before any widget
    of the page, so it may set them all."""
    try:
        saved = get_store().load_task(task_id)
    except NotFound:
        return False
    if saved.kind != "task" or len(saved.classes) != N_WAY:
        raise InvalidInput(
            "That id is a Classroom room, not a saved task: open it on the Classroom page."
            if saved.kind == "room"
            else f"That saved task has {len(saved.classes)} classes; this page shows {N_WAY}-way tasks."
        )
    put_on_page(saved)
    state.own_saved = {"id": task_id, "title": saved.title, "version": saved.version, "token": None, "content": content()}
    return True


def open_edit_link(token: str) -> None:
    """An edit link's token: the saved task on the page becomes editable if it is that task's, else a note."""
    saved = state.own_saved
    if saved is None or saved["token"] == token:
        return  # no saved task opened (its id already has a note), or this one already editable
    try:
        allowed = get_store().check_edit_token(saved["id"], token)
    except StoreError as exc:  # deleted meanwhile, or the database did not answer: read-only, and why
        view.note(f"{plain(exc)} The task opens read-only.")
        return
    if allowed:
        saved["token"] = token
    else:
        view.note(
            "This edit link does not match the saved task, so it opens read-only: only the edit link given when "
            "the task was saved can change it."
        )


def flash(kind: str, markdown: str) -> None:
    """The outcome of a save, shown once at the top (``markdown``: anyone's text in it already escaped)."""
    state.own_store_message = (kind, markdown)


def title_words(title: str) -> str:
    return f" “{plain(title)}”" if title else ""


def usable(pictures: list[Picture], left_out: list[str]) -> list[Picture]:
    """The pictures the models can read (the others are named in ``left_out``): what a saved task holds."""
    kept = []
    for p in pictures:
        try:
            decode(p, state.own_polarity, state.own_decoded)
            kept.append(p)
        except ImageError:
            left_out.append(p.name)
    return kept


def write_task(how: str, write) -> None:
    """Save the page's task with ``write(classes, queries, polarity)`` -> (task id, edit token), leaving out the
    pictures no model can read; then the stored task replaces the page's (what its link shows, exactly: the
    store re-encodes every picture) and the links are shown. A refusal is shown in the store's words."""
    left_out: list[str] = []
    classes = [TaskClass(c.name, usable(c.pictures, left_out)) for c in state.own_classes]
    queries = usable(state.own_queries, left_out)
    try:
        store = get_store()
        task_id, token = write(store, classes, queries, state.own_polarity)
        saved = store.load_task(task_id)
    except StoreError as exc:
        flash("error", plain(exc))
        return
    put_on_page(saved, queries)
    state.own_saved = {"id": task_id, "title": saved.title, "version": saved.version, "token": token, "content": content()}
    state.own_task_id = task_id  # its view link is now this page's address
    state.own_show_links = True
    skipped = (
        f" Left out, as no model can read {'it' if len(left_out) == 1 else 'them'}: {md(', '.join(left_out))}."
        if left_out
        else ""
    )
    flash("success", f"{how}{title_words(saved.title)}.{skipped} Anyone with its view link sees this version.")


def save_new() -> None:
    """Button callback: save this page's task; its links are shown, and the page edits it from now on."""
    title = state.get("own_save_title", "")
    write_task("Saved", lambda store, classes, queries, polarity: store.save_task(classes, queries, polarity, title))


def save_changes() -> None:
    saved = state.own_saved
    title = state.get("own_edit_title", saved["title"])

    def write(store, classes, queries, polarity):
        store.update_task(saved["id"], saved["token"], classes, queries, polarity, title)
        return saved["id"], saved["token"]

    write_task("Saved the changes", write)


def delete_saved() -> None:
    saved = state.own_saved
    try:
        get_store().delete_task(saved["id"], saved["token"])
    except NotFound:
        pass  # already gone: what the visitor asked for
    except StoreError as exc:
        flash("error", plain(exc))
        return
    state.own_saved = state.own_task_id = None
    state.own_show_links = False
    flash(
        "info",
        "Deleted: its links no longer open it. The task is still on this page, yours to change, save again or download.",
    )


def make_copy() -> None:
    state.own_saved = state.own_task_id = None
    flash("info", "This is now your own copy, in this browser tab: change it as you like; the saved task stays as it was.")


def links_block(task_id: str, token: str) -> None:
    """The view link to share and the edit link to keep, each in a box with a copy button."""
    st.markdown("**View link**: anyone who has it sees the task read-only and can try their own queries on it.")
    st.code(url_state.link({"task": task_id}), language=None, wrap_lines=True)
    st.markdown(
        "**Edit link: keep this private.** Anyone who has it can change or delete the task. Keep it somewhere safe: "
        "this page shows it only while this tab is open."
    )
    st.code(url_state.link({"task": task_id, "edit": token}), language=None, wrap_lines=True)


def save_controls() -> None:
    """Beside the download button: save and share this task, or (a saved task) save its changes, its links,
    delete it; read-only, only a copy of one's own."""
    saved = state.own_saved
    blank = task_is_blank(state.own_classes, state.own_queries)
    if saved is None:
        with st.popover(
            "Save and share",
            icon=":material/share:",
            disabled=blank,
            help="Give the task a name or an image first." if blank else None,
            key="own_save_menu",
        ):
            st.text_input("Title (optional)", key="own_save_title", max_chars=200, placeholder="e.g. Five shapes")
            st.caption(
                "Saves the classes, images, queries and polarity on this server. You get a view link to share "
                "(read-only) and a separate edit link that changes or deletes it."
            )
            st.button("Save", type="primary", key="own_save", on_click=save_new)
    elif saved["token"] is None:
        st.button("Make an editable copy", icon=":material/content_copy:", key="own_copy", on_click=make_copy)
    else:
        state.setdefault("own_edit_title", saved["title"])
        with st.popover("Save changes", icon=":material/save:", key="own_update_menu"):
            st.text_input("Title (optional)", key="own_edit_title", max_chars=200)
            st.caption("Replaces the saved task with this page's classes, images, queries and polarity.")
            st.button("Save changes", type="primary", key="own_update", on_click=save_changes)
        with st.popover("Links", icon=":material/link:", key="own_links_menu"):
            links_block(saved["id"], saved["token"])
        with st.popover("Delete", icon=":material/delete:", key="own_delete_menu"):
            st.markdown("Delete the saved task for everyone? Its links stop working. This page keeps your copy.")
            st.button("Yes, delete it", key="own_delete", on_click=delete_saved)


# ---- the page -----------------------------------------------------------------------------------------------

view = url_state.View(
    "own_task",
    [
        url_state.pattern(
            "task", "own_task_id", "A saved task", TASK_ID, "an id of 22 letters, digits, '-' or '_' (was the link cut short?)"
        ),
        url_state.pattern(
            "edit", "own_edit_token", "An edit link", EDIT_TOKEN, "a token of 32 letters, digits, '-' or '_' (was it cut short?)"
        ),
        url_state.choice("polarity", "own_polarity", "Polarity", "auto", {p: p for p in ("auto", "keep", "invert")}),
        url_state.integer("steps", "own_maml_steps", "MAML inner steps", 5, 0, 10),
    ],
)
view.header("Your own 5-way task")
# The edit token leaves the address bar at once: the page's "Link" and a projected address bar must not show it.
edit_token, state.own_edit_token = state.own_edit_token, None
if state.own_task_id is None:
    state.own_saved = None  # (back in the browser's history to the page without it: the task stays, as one's own)
elif state.own_saved is None or state.own_saved["id"] != state.own_task_id:
    try:
        found = load_saved_task(state.own_task_id)
    except StoreError as exc:  # a room's id, or the database did not answer: the store's own words
        view.note(plain(exc))
        state.own_task_id = None
    else:
        if not found:
            view.note(
                f"No saved task has the id **{url_state.plain(state.own_task_id)}**: it may have expired or been "
                "deleted, or the link was cut short. Ask whoever shared it for a new link; meanwhile you can build a "
                "task of your own here."
            )
            state.own_task_id = None  # out of the URL: the note is said once
if edit_token is not None:
    open_edit_link(edit_token)
read_only = state.own_saved is not None and state.own_saved["token"] is None
editing = state.own_saved is not None and not read_only

if read_only:
    st.caption(
        "A saved task that someone shared. Add query images (upload, camera or drawing) to see how MAML, "
        "HyperMAML and ProtoNet classify them into its five classes. Images are shown the way the models see "
        "them: 28×28, dark ink on a light background. Each query is classified on its own."
    )
else:
    st.caption(
        "Give five classes a name and a few images each (per-class uploads, one zip with a folder per class, the "
        "camera, or drawing), then add query images. Images are shown the way the models see them: 28×28, dark ink "
        "on a light background. Each query is classified on its own: the models normalise with your support images "
        "and that picture only, so a prediction never depends on the other queries you add."
    )
top = st.container()  # always there: an element appearing above the tabs would reset the open tab
with top:
    if read_only:
        st.info(
            f"**This is a saved task{title_words(state.own_saved['title'])}, opened read-only.** Its classes and "
            "images are as they were saved. Queries you add stay in this browser tab only and are never saved.",
            icon=":material/visibility:",
        )
    elif editing:
        changed = content() != state.own_saved["content"]
        st.info(
            f"**You are editing the saved task{title_words(state.own_saved['title'])}** (its edit link opened it). "
            + (
                "**This page has changes that are not saved yet:** *Save changes* stores them. "
                if changed
                else "Changes stay on this page until you *Save changes*. "
            )
            + "The address bar shows only the view link: to edit again after closing this tab, open your edit link.",
            icon=":material/edit:",
        )
    else:
        st.info(
            "Your task lives only in this browser tab: **reloading the page or closing the tab loses it.** "
            "Download it, or save it for a link; loading a downloaded zip under “One zip” brings it back.",
            icon=":material/info:",
        )
    row = st.container(horizontal=True)
    if not task_is_blank(state.own_classes, state.own_queries):
        row.download_button(
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
    with row:
        save_controls()
    if "own_store_message" in state:
        kind, text = state.pop("own_store_message")
        {"success": st.success, "info": st.info}.get(kind, st.error)(text)
    if editing and state.get("own_show_links"):
        with st.container(border=True):
            links_block(state.own_saved["id"], state.own_saved["token"])
            st.button("Hide the links", key="own_hide_links", on_click=lambda: state.update(own_show_links=False))
if "own_flash" in state:
    st.toast(state.pop("own_flash"))

polarity = st.radio(
    "Polarity",
    ["auto", "keep", "invert"],
    horizontal=True,
    key="own_polarity",
    disabled=read_only,
    help="The models expect dark ink on light paper. 'auto' inverts pictures whose paper is darker than their ink."
    + (" A saved task keeps the polarity it was saved with." if read_only else ""),
)
view.write()  # the page may stop below (a task not ready yet); MAML's steps, further down, write again


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


def camera_tab() -> None:
    if url_state.insecure_origin():  # the browser would not even ask: say why, and what works instead
        elsewhere = "*Queries* below" if read_only else "*Upload per class*"
        st.warning(
            "**The camera is off on this page.** Browsers only allow a camera on *https://* pages or on the "
            "computer that runs the studio, and this page came over plain *http://* from another device. Ask your "
            "teacher to start the studio with `HTTPS=1 ./run_app.sh` (the documentation's *Serve it to your class* page, `docs/serve_a_class.md`), "
            "then open the *https://* address it prints.  \n"
            f"Until then: take the photo with your device's camera and add it under {elsewhere} (on a phone "
            "or tablet, that button offers the camera directly), or use *Draw*.",
            icon=":material/no_photography:",
        )
        return
    st.markdown(
        "**For a picture the models can read:** one character, drawn with a thick dark marker on white paper, "
        "filling most of the frame, in good even light (no shadow across it).  \n"
        "The browser first asks for permission: if the box only says *This app would like to use your camera*, "
        "allow the camera for this site (the icon in the address bar), or there is no camera here: use "
        f"{'the query upload below' if read_only else '*Upload per class*'} or *Draw* instead."
    )
    cam_target = target_choice("Add the photo to", "own_cam_target")
    shot = st.camera_input("Take a picture", key="own_camera")
    if shot is not None and shot.file_id not in state.own_seen_uploads:
        state.own_seen_uploads.add(shot.file_id)
        start = len(not_added)
        if within_limit(shot.name, shot.size):
            photo = Picture(f"photo-{len(state.own_seen_uploads)}.jpg", shot.getvalue())
            if add_picture(cam_target, photo):
                st.success(f"Added {photo.name} to {md(target_label(cam_target))}.")
        refusals_here(start)


def draw_tab() -> None:
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
            return
        start = len(not_added)
        if within_limit(sketch.name, len(sketch.data)) and add_picture(draw_target, sketch):
            st.success(f"Added {sketch.name} to {md(target_label(draw_target))}.")
        refusals_here(start)


if read_only:  # its classes stay as saved: only ways to add queries
    tab_draw, tab_camera = st.tabs(["Draw a query", "Photograph a query"])
else:
    tab_upload, tab_zip, tab_camera, tab_draw = st.tabs(["Upload per class", "One zip", "Camera", "Draw"])
    with tab_upload:
        upload_tab()
    with tab_zip:
        zip_tab()
with tab_camera:
    camera_tab()
with tab_draw:
    draw_tab()

st.subheader("Support set, as the models see it")
for i, (col, c) in enumerate(zip(st.columns(N_WAY), state.own_classes)):
    with col:
        st.markdown(f"**{md(c.name) or '(no name)'}** · {len(c.pictures)} image(s)")
        show(f"class{i}", c.pictures)
        if c.pictures and not read_only:
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
    readable: list[tuple[int, Picture, torch.Tensor]] = []  # (number under its thumbnail - 1, picture, image)
    for j, p in enumerate(state.own_queries):
        try:
            readable.append((j, p, decode(p, polarity, state.own_decoded)))
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
query_x = torch.stack([x for *_, x in readable])
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
    # How far each query is from the support set, in ProtoNet's embedding (trained so distance means likeness)
    state.own_familiarity = familiarity(models["protonet"], support_x, query_x) if "protonet" in models else None
    state.own_prediction_key = prediction_key
probs, known = state.own_prediction, state.own_familiarity
far = known.far if known else [False] * len(readable)
UNKNOWN = -1  # a select's "unknown" (not None: a select showing None shows its placeholder instead)
for _, p, _ in readable:  # the selects' values (further down) as this run got them
    if f"own_truth_{p.key}" in state:
        chosen = state[f"own_truth_{p.key}"]
        state.own_truth[p.key] = None if chosen == UNKNOWN else chosen
truth = [state.own_truth.get(p.key) for _, p, _ in readable]
labelled = any(t is not None for t in truth)
rows = results_rows(
    [p.name for _, p, _ in readable],
    class_names,
    probs,
    maml_steps,
    truth=truth if labelled else None,
    far=known.far if known else None,
)
labels = [method_label(m, maml_steps) for m in probs]


def cell(row: dict, label: str, true_class: int | None) -> str:
    text = f"{row[label]} ({row[label + ' probability']:.0%})"
    if true_class is None:
        return text
    return text + (" ✓" if row[label] == class_names[true_class] else " ✗")


shown = []
for row, (_, _, x), t, is_far in zip(rows, readable, truth, far):
    line = {"picture": thumbnail_url(x), "query": row["query"]}
    if any(far):
        line["check"] = "⚠️ unlike support" if is_far else ""
    if labelled:
        line["true class"] = row["true class"]
    line |= {k: cell(row, k, t) for k in labels}
    shown.append(line)
st.subheader(f"Predictions ({shots} shot{'s' if shots > 1 else ''} per class)")
st.caption(
    "Each cell: the class the method picks and its softmax probability for that class. A softmax always sums to "
    "100% over the five classes, so it says which class is closest, not whether the picture belongs to any of them."
)
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    height="content",  # the whole table, never a scroll box inside the page
    row_height=60,
    column_config={
        "picture": st.column_config.ImageColumn("picture", width="small", help="The query as the models see it"),
        "check": st.column_config.TextColumn(
            "check", help="⚠️ unlike support: unlike every support image — treat this row's predictions with suspicion"
        ),
    },
)
if known is not None:
    n_far = sum(far)
    spread = (
        f"farther from every support image than any support image is from its nearest neighbour ({known.reach:.2f} in "
        "ProtoNet's embedding)"
    )
    if n_far:
        names = ", ".join(md(p.name) for (_, p, _), is_far in zip(readable, far) if is_far)
        st.warning(
            f"**⚠️ unlike support: {'all' if n_far == len(far) else n_far} of the {len(far)} queries "
            f"{'is' if n_far == 1 else 'are'} unlike every support image — treat "
            f"{'its' if n_far == 1 else 'their'} predictions with suspicion** ({names}): "
            f"{'it is' if n_far == 1 else 'each is'} {spread}. Whatever the picture, the five probabilities still sum "
            "to 100%.",
        )
    else:
        st.caption(f"No query is {spread}: each looks like some support image, as far as this check can tell.")
    if shots == 1:
        st.caption(
            "With one image per class the support set cannot show how much a class varies, so this check is lenient: "
            "more images per class make it sharper."
        )

with st.expander("Say what each query really is (optional), to score the methods", icon=":material/fact_check:"):
    st.caption("Kept in this browser tab only. Numbered as under the query thumbnails.")
    options = [UNKNOWN, *range(N_WAY)]
    grid = st.columns(3)
    for n, (j, p, _) in enumerate(readable):
        key = f"own_truth_{p.key}"
        if key not in state:
            known_class = state.own_truth.get(p.key)
            state[key] = UNKNOWN if known_class is None else known_class
        with grid[n % 3]:
            st.selectbox(
                f"{j + 1} · {md(p.name)}",
                options,
                format_func=lambda k: "unknown" if k == UNKNOWN else f"{k + 1}. {class_names[k]}",
                key=key,
            )
if labelled:
    scores = accuracies(probs, truth)
    n_labelled = sum(t is not None for t in truth)
    st.markdown(f"**Accuracy on the {n_labelled} labelled quer{'y' if n_labelled == 1 else 'ies'}**")
    with st.container(horizontal=True):
        for method, (right, total) in scores.items():
            st.metric(f"{method_label(method, maml_steps)}: {right} of {total}", f"{right / total:.0%}", border=True)
        st.metric("chance", f"{100 / N_WAY:.0f}%", border=True, help=f"A guess among {N_WAY} classes")
    st.caption(accuracy_note(n_labelled))
st.download_button("Download the results as CSV", to_csv(rows), file_name="predictions.csv", mime="text/csv")
