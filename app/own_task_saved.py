"""Saved tasks on the page "Your own task" (``app/views/own_task.py``): load one named by the link, save, share,
update, delete or copy it (``app.store``). Importing this module shows nothing: the page calls these."""

from __future__ import annotations

import streamlit as st

from app import url_state
from app.own_task_ui import TARGETS, md, plain, reset_uploader
from app.resources import get_store
from app.store import InvalidInput, NotFound, SavedTask, StoreError
from app.store.checks import ID_RE, TOKEN_RE
from app.user_task import (
    N_WAY,
    Picture,
    TaskClass,
    decode,
    task_is_blank,
)
from hypermaml.data import ImageError

state = st.session_state

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
    opened_by_link = state.own_saved is not None and state.own_saved["id"] == task_id and not state.own_saved.get("saved_here")
    state.own_saved = {"id": task_id, "title": saved.title, "version": saved.version, "token": token, "content": content()}
    state.own_saved["saved_here"] = not opened_by_link  # how this tab came to edit it, which the page says
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
