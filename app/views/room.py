"""Classroom: students add pictures to a room's classes from their phones; the projector shows the task grow
and MAML, HyperMAML and ProtoNet adapt to it.

The URL chooses the mode: nothing -> the teacher's form that opens a room; ``?room=<id>&edit=<token>`` -> the
presenter (QR code, live task, predictions, removing, closing); ``?room=<id>`` -> the student's page.
Everything a visitor adds goes to the store at once (``app.store``); names are shown as text, never as markup.
"""

from __future__ import annotations

import secrets

import streamlit as st

from app import url_state
from app.resources import benchmark_models
from app.room_ui import (
    REFRESH_S,
    TARGET_QUERIES,
    add_to_room,
    drawing_bytes,
    drawing_pad,
    edit_allowed,
    get_store,
    md,
    qr_png,
    room_predictions,
    room_task,
    sheet,
    thumbnails,
)
from app.store import StoreError
from app.store.checks import ID_RE, TOKEN_RE
from app.user_task import N_WAY, DecodeCache, counted
from hypermaml.data import ImageError
from hypermaml.data.folders import IMAGE_SUFFIXES

ACCEPT = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)
QR_LARGE_PX = 560  # the dialog's code: 13 px a module, the whole code in view on a 768 px high screen
POLARITY_HELP = "The models expect dark ink on light paper. 'auto' inverts pictures whose paper is darker than their ink."

state = st.session_state
state.setdefault("room_visitor", secrets.token_urlsafe(16))  # this tab's id for the store's rate limit
state.setdefault("room_added", {})  # room id -> pictures this visitor added
state.setdefault("room_gen", 0)  # part of the photo and file inputs' keys: a new one is an empty input
state.setdefault("room_drawings_taken", set())  # ids of drawings already stored (the pad keeps reporting its last)
state.setdefault("room_decoded", DecodeCache())

view = url_state.View(
    "room",
    [
        url_state.pattern("room", "room_id", "The room", ID_RE.pattern, "an id of 22 letters, digits, '-' or '_'"),
        url_state.pattern(
            "edit", "room_edit", "The edit link", TOKEN_RE.pattern, "a token of 32 letters, digits, '-' or '_'", private=True
        ),
        url_state.integer("steps", "room_steps", "MAML inner steps", 5, 0, 10),
    ],
)
try:
    store = get_store()
except StoreError as exc:
    view.header("Classroom")
    st.error(md(exc))
    st.stop()


def flash(kind: str, text: str) -> None:
    state.room_flash = (kind, text)


def show_flash(toast: bool = False) -> None:
    """The last action's outcome: a toast on the presenter (its refresh would wipe a message at once)."""
    if "room_flash" in state:
        kind, text = state.pop("room_flash")
        if toast:
            st.toast(md(text), icon=":material/error:" if kind in ("error", "closed") else None)
        else:
            {"success": st.success, "info": st.info}.get(kind, st.error)(md(text))


# ---- the teacher's form ---------------------------------------------------------------------------------


def teacher_form() -> None:
    view.header("Classroom")
    st.caption(
        "Open a room: students scan its QR code and add drawings, photos or files to its classes from their own "
        "phones. The projector shows the task growing, and MAML, HyperMAML and ProtoNet learning it as it grows."
    )
    st.text_input("Title (optional)", key="room_form_title", max_chars=200, placeholder="Period 3: shapes")
    n = st.segmented_control("Classes", [2, 3, 4, 5], default=N_WAY, required=True, key="room_form_n")
    if n != N_WAY:
        st.caption(f"The MAML and HyperMAML models here learned {N_WAY}-way tasks: with {n} classes only ProtoNet predicts.")
    cols = st.columns(n)
    for i, col in enumerate(cols):
        col.text_input(f"Class {i + 1}", key=f"room_form_name_{i}", max_chars=100, placeholder=f"e.g. {'ABCDE'[i]}")
    st.radio("Polarity", ["auto", "keep", "invert"], horizontal=True, key="room_form_polarity", help=POLARITY_HELP)
    if st.button("Open the room", type="primary", icon=":material/meeting_room:"):
        names = [state.get(f"room_form_name_{i}", "") for i in range(n)]
        try:
            room_id, token = store.open_room(names, state.room_form_polarity, state.room_form_title)
        except StoreError as exc:
            st.error(md(exc))
            return
        state.room_id, state.room_edit = room_id, token
        state.room_opened = True
        st.query_params.from_dict({"room": room_id, "edit": token})
        st.rerun()


# ---- the presenter ----------------------------------------------------------------------------------------


def refresh(room_id: str):
    """The room as of now, reading only its version when nothing changed (and then no image): the last
    snapshot and the PNG bytes of its images live in this session."""
    old = state.get("room_snap")
    old = old if old is not None and old.id == room_id else None
    new = store.room_snapshot(room_id, old.version if old else None)
    if not new.changed:
        return old
    ids = [i.id for c in new.classes for i in c.images] + [q.id for q in new.queries]
    pngs = {i: b for i, b in state.get("room_pngs", {}).items() if i in set(ids)}
    missing = [i for i in ids if i not in pngs]
    if missing:
        pngs.update(store.image_pngs(room_id, missing))
    state.room_snap, state.room_pngs = new, pngs
    return new


def remove(room_id: str, token: str, image_id: int) -> None:
    try:
        store.remove_image(room_id, token, image_id)
    except StoreError as exc:
        flash("error", str(exc))


def set_open(room_id: str, token: str, is_open: bool) -> None:
    try:
        (store.reopen_room if is_open else store.close_room)(room_id, token)
    except StoreError as exc:
        flash("error", str(exc))


def class_row(label: str, images, polarity: str, removing: bool, room_id: str, token: str, hint: str = "") -> None:
    name_col, pictures_col = st.columns([1, 4], vertical_alignment="top")
    name_col.markdown(f"**{md(label)}**  \n{counted(len(images), 'picture')}")
    if hint:
        name_col.caption(hint)
    with pictures_col:
        if not images:
            st.caption("Nothing yet.")
        elif removing:
            with st.container(horizontal=True, gap="small"):
                for j, (image, arr) in enumerate(zip(images, thumbnails(images, state.room_pngs, polarity, state.room_decoded))):
                    with st.container(width=64, gap=None):
                        st.image(sheet([arr], 1), width=56)
                        st.button(
                            "",
                            icon=":material/delete:",
                            key=f"room_rm_{image.id}",
                            help=f"Remove picture {j + 1} of {label}",
                            on_click=remove,
                            args=(room_id, token, image.id),
                        )
        else:
            st.image(sheet(thumbnails(images, state.room_pngs, polarity, state.room_decoded), per_row=10))


def predictions(snap) -> bool:
    """The models' guesses for the room's queries, once every class has a picture; whether they are shown."""
    empty = [c.name for c in snap.classes if not c.images]
    if empty:
        st.info(f"The models start once every class has a picture; still empty: {', '.join(md(n) for n in empty)}.")
        return False
    if not snap.queries:
        st.info("Every class has a picture. Add queries (students pick *A query* on their page): the models guess them.")
        return False
    steps = state.room_steps
    models = benchmark_models(5) or benchmark_models(1)
    key = (snap.id, tuple(tuple(i.id for i in c.images) for c in snap.classes), tuple(q.id for q in snap.queries), steps)
    if state.get("room_result_key") != key:
        classes, queries = room_task(snap, state.room_pngs)
        try:
            state.room_result = room_predictions(classes, queries, snap.polarity, steps, models, state.room_decoded)
        except ImageError as exc:
            st.error(md(exc))
            return False
        state.room_result_key = key
    result = state.room_result
    st.subheader(f"Predictions ({counted(result.shots, 'picture')} per class)", anchor="predictions")
    for note in result.notes:
        st.caption(md(note))
    st.dataframe(
        result.rows,
        hide_index=True,
        width="stretch",
        height="content",
        row_height=60,
        column_config={"picture": st.column_config.ImageColumn("picture", width="small")},
    )
    return True


@st.fragment(run_every=REFRESH_S)
def live(room_id: str, token: str) -> None:
    """The room as it grows: asks the store every REFRESH_S seconds; recomputes only when it changed."""
    try:
        snap = refresh(room_id)
    except StoreError as exc:
        st.error(md(exc))
        return
    show_flash(toast=True)
    with st.container(horizontal=True, vertical_alignment="center"):
        status = "open: students can add pictures" if snap.is_open else "closed: it takes no more pictures"
        st.markdown(f"**{counted(snap.n_images, 'picture')}** · the room is {status}")
        st.button(
            "Close the room" if snap.is_open else "Open it again",
            key="room_toggle_open",
            icon=":material/lock:" if snap.is_open else ":material/lock_open:",
            on_click=set_open,
            args=(room_id, token, not snap.is_open),
        )
        removing = st.toggle("Remove pictures", key="room_removing")
        jump = st.empty()  # a link to the predictions, far below every class's row, once there are some
    for c in snap.classes:
        class_row(c.name, c.images, snap.polarity, removing, room_id, token)
    class_row("Queries", snap.queries, snap.polarity, removing, room_id, token, hint="The models guess these.")
    if predictions(snap):
        jump.markdown("[:material/arrow_downward: The predictions](#predictions)")


def leave_room() -> None:
    """Back to the form (the callback runs before the page reads the URL)."""
    state.room_id = state.room_edit = None
    st.query_params.clear()


@st.dialog("Scan to add a picture", width="large")
def big_qr(student_link: str) -> None:
    """The code large enough for the back row, and whole on a 1024x768 projector (a camera needs all of it);
    closing it shows the room again."""
    with st.container(horizontal_alignment="center"):
        st.image(qr_png(student_link), width=QR_LARGE_PX)
    st.code(student_link, language=None, wrap_lines=True)


def presenter(snap, room_id: str, token: str) -> None:
    view.header(f"Classroom: {md(snap.title)}" if snap.title else "Classroom")
    if state.pop("room_opened", False):
        st.success(
            "The room is open. **Keep this page's address: it is the room's edit link** (bookmark it): it removes "
            "pictures and closes the room. Students use the QR code's link, which can only add pictures. On the "
            "projector, full screen (F11) hides the address bar, and so the edit link, from the class.",
            icon=":material/bookmark:",
        )
    student_link = url_state.link({"room": room_id})
    qr_col, text_col = st.columns([3, 2], vertical_alignment="center")  # the code as big as the page allows
    qr_col.image(qr_png(student_link), width="stretch", caption="Scan to add a picture")
    with text_col:
        st.subheader("Add your picture")
        st.markdown("Scan the code with a phone's camera, or open:")
        st.code(student_link, language=None, wrap_lines=True)
        host = (student_link.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]).strip("[]")
        if host in url_state.LOOPBACK or not host:
            st.warning(
                "This link names this computer only: students' phones cannot open it. Serve the class with "
                "`HOST=0.0.0.0 HTTPS=1 ./run_app.sh`, then open the address it prints.",
                icon=":material/wifi_off:",
            )
        with st.popover("Your edit link (keep it private)", icon=":material/key:"):
            st.caption("Whoever has this link can remove pictures and close the room. Do not show it to the class.")
            st.code(url_state.link({"room": room_id, "edit": token}), language=None, wrap_lines=True)
            st.button("Open another room", key="room_new", on_click=leave_room, help="This room stays as it is.")
        if st.button("Show the code large", icon=":material/qr_code_2:", key="room_big_qr"):
            big_qr(student_link)
        st.slider("MAML inner steps", 0, 10, key="room_steps", help="MAML's gradient steps on the room's pictures.")
    view.write()
    live(room_id, token)


# ---- the student's page -----------------------------------------------------------------------------------


def stored(room_id: str, target, data: bytes, name: str) -> bool:
    kind, text = add_to_room(store, room_id, target, data, name, state.room_visitor)
    if kind != "success":
        flash(kind, text)  # "closed" shows as an error, and the closed room's page words it once
        return False
    n = state.room_added[room_id] = state.room_added.get(room_id, 0) + 1
    where = "the queries" if target == TARGET_QUERIES else f"'{state.room_class_names[target]}'"
    flash("success", f"Added to {where}. You have added {counted(n, 'picture')} to this room.")
    return True


def add_upload(room_id: str, key: str) -> None:
    """The Add button's callback: store the photo or file in the input ``key``, then empty the inputs."""
    f = state.get(key)
    if f is None:
        flash("error", "Choose a picture first.")
        return
    if stored(room_id, state.room_target, f.getvalue(), f.name):
        state.room_gen += 1


def student(snap, room_id: str, note: str | None = None) -> None:
    view.header(md(snap.title) if snap.title else "Classroom")
    if note:
        view.note(note)
    state.room_class_names = [c.name for c in snap.classes]
    added = state.room_added.get(room_id, 0)
    if not snap.is_open:
        refused = state.get("room_flash", ("",))[0] == "closed"
        if refused:  # an add the teacher's closing overtook: said once, by the message below
            del state["room_flash"]
        show_flash()
        st.info(
            ("Your picture was not added. " if refused else "")
            + "This room is closed: it takes no more pictures. Ask your teacher to open it again."
        )
        if added:
            st.caption(f"You added {counted(added, 'picture')}; they stay in the room.")
        return
    options = list(range(len(snap.classes))) + [TARGET_QUERIES]
    if state.get("room_target") not in options:
        state.room_target = 0
    st.pills(
        "1 · What does your picture show?",
        options,
        format_func=lambda t: "A query (the models guess it)" if t == TARGET_QUERIES else md(snap.classes[t].name),
        key="room_target",
        required=True,
    )
    target = state.room_target
    label = "Add as a query" if target == TARGET_QUERIES else f"Add to {snap.classes[target].name}"
    mode = st.segmented_control("2 · Add it by", ["Drawing", "Photo", "File"], default="Drawing", required=True, key="room_mode")
    if mode == "Drawing":
        said = state.pop("room_flash", None)  # the pad shows the outcome under its button, in view on a phone
        if said:
            state.room_said = state.get("room_said", 0) + 1
        data = {"label": label, "done": state.get("room_pad_done"), "msgId": state.get("room_said", 0)}
        if said:
            data.update(kind=said[0], msg=said[1])
        result = drawing_pad()(key="room_pad", data=data, on_drawing_change=lambda: None)
        drawing = result.get("drawing")
        if isinstance(drawing, dict) and drawing.get("id") and drawing["id"] not in state.room_drawings_taken:
            state.room_drawings_taken.add(drawing["id"])
            try:
                if stored(room_id, target, drawing_bytes(drawing), "drawing.png"):
                    state.room_pad_done = drawing["id"]  # the pad clears only a drawing that is stored
            except ImageError as exc:
                flash("error", str(exc))
            st.rerun()  # the pad hears the outcome at once
    elif mode == "Photo" and url_state.insecure_origin():
        st.warning(
            "**The camera is off on this page**: browsers allow it only on *https://* pages, and this one came "
            "over plain *http://*. Choose **File** instead: on a phone it offers the camera too. (Teacher: "
            "`HTTPS=1 ./run_app.sh` serves https.)",
            icon=":material/no_photography:",
        )
    else:
        key = f"room_{'cam' if mode == 'Photo' else 'file'}_{state.room_gen}"
        if mode == "Photo":
            picked = st.camera_input("Take a photo: one thick dark drawing on white paper, filling the frame", key=key)
        else:
            picked = st.file_uploader("A picture from this device", type=ACCEPT, key=key)
        st.button(
            md(label),
            type="primary",
            width="stretch",
            disabled=picked is None,
            key="room_add",
            on_click=add_upload,
            args=(room_id, key),
        )
    just_added = state.get("room_flash", ("",))[0] == "success"  # its message already says how many you added
    show_flash()
    st.caption(f"The room holds {counted(snap.n_images, 'picture')}" + ("." if just_added else f"; you added {added}."))


# ---- the page ---------------------------------------------------------------------------------------------

room_id, token = state.room_id, state.room_edit
if room_id is None:
    if "room" in st.query_params:  # a room link, but not one: say so rather than offer a form to a student
        view.header("Classroom")
        st.error("That link does not lead to a room. Ask your teacher for the room's link again, or scan its QR code.")
        st.stop()
    state.room_edit = None  # an edit token without its room means nothing: not kept in the URL
    view.write()
    teacher_form()
    st.stop()
try:
    snapshot = store.room_snapshot(room_id)
except StoreError as exc:
    view.header("Classroom")
    st.error(md(exc))
    st.stop()
wrong_token = None
if token is not None and state.get("room_editor_of") != (room_id, token):
    if edit_allowed(store, room_id, token):
        state.room_editor_of = (room_id, token)
    else:
        wrong_token = (
            "This edit link does not match the room, so this is the students' page: only the room's own edit link changes it."
        )
        state.room_edit = token = None
if token is not None:
    presenter(snapshot, room_id, token)
else:
    view.write()
    student(snapshot, room_id, wrong_token)
