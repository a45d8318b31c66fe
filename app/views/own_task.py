"""Your own 5-way task: five classes of your images, then queries; every method's predictions, how far each
query is from the support set, and (for queries given their true class) each method's accuracy beside chance.

A task can be saved (``app.store``): ``?task=<id>`` opens it read-only for anyone (their own queries stay in
their session), ``?task=<id>&edit=<token>`` lets whoever saved it change or delete it. The token is read and
then taken out of the address bar, so the page's "Link" and a projected address bar show only the view link.
"""

from __future__ import annotations

import functools

import streamlit as st
import torch

from app import url_state
from app.own_task_saved import EDIT_TOKEN, TASK_ID, content, links_block, load_saved_task, save_controls, title_words
from app.own_task_ui import (
    CANVAS_CSS,
    CANVAS_HTML,
    CANVAS_JS,
    add_picture,
    md,
    plain,
    refusals_here,
    remove_controls,
    show,
    target_choice,
    target_label,
    thumbnail_url,
    upload_tab,
    uploader,
    within_limit,
    zip_tab,
)
from app.resources import benchmark_models, get_store
from app.store import StoreError
from app.task_zip import task_zip
from app.user_task import (
    N_WAY,
    DecodeCache,
    Picture,
    TaskClass,
    accuracies,
    accuracy_note,
    counted,
    decode,
    empty_task,
    familiarity,
    method_label,
    picture_from_data_url,
    predict,
    problems,
    readable_counts,
    results_rows,
    shot_message,
    support_set,
    task_is_blank,
    to_csv,
)
from hypermaml.data import ImageError

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
not_added = state.own_not_added = []  # this run's refusals, shown with the unusable images in one message
unusable = state.own_unusable = []  # (target, "where: why") for every picture that cannot be used, shown once below
draw_canvas = st.components.v2.component("hypermaml_drawing_canvas", html=CANVAS_HTML, css=CANVAS_CSS, js=CANVAS_JS)


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


# ---- the page -----------------------------------------------------------------------------------------------

view = url_state.View(
    "own_task",
    [
        url_state.pattern(
            "task", "own_task_id", "A saved task", TASK_ID, "an id of 22 letters, digits, '-' or '_' (was the link cut short?)"
        ),
        url_state.pattern(
            "edit",
            "own_edit_token",
            "An edit link",
            EDIT_TOKEN,
            "a token of 32 letters, digits, '-' or '_' (was it cut short?)",
            private=True,
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
            f"**You are editing the saved task{title_words(state.own_saved['title'])}** "
            + ("(you saved it from this tab). " if state.own_saved.get("saved_here") else "(its edit link opened it). ")
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


# The tabs keep their state (a key and on_change="rerun"): the drawing, photo or upload that reruns the page
# leaves the visitor on the tab they were using, not on the first one.
if read_only:  # its classes stay as saved: only ways to add queries
    tab_draw, tab_camera = st.tabs(["Draw a query", "Photograph a query"], key="own_add_tabs_ro", on_change="rerun")
else:
    tab_upload, tab_zip, tab_camera, tab_draw = st.tabs(
        ["Upload per class", "One zip", "Camera", "Draw"], key="own_add_tabs", on_change="rerun"
    )
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
        st.markdown(f"**{md(c.name) or '(no name)'}** · {counted(len(c.pictures), 'image')}")
        show(f"class{i}", c.pictures)
        if c.pictures and not read_only:
            remove_controls(f"class{i}")

st.subheader("Queries")
uploader("queries", "Query images")
show("queries", state.own_queries)
if state.own_queries:
    remove_controls("queries")

if unusable or not_added:
    lines = [f"- {m}" for m in not_added + [line for _, line in unusable]]
    places = {"the queries" if target == "queries" else "its class" for target, _ in unusable}
    head = (
        f"**{counted(len(unusable), 'image')} cannot be used and "
        f"{'are' if len(unusable) != 1 else 'is'} left out** (remove {'them' if len(unusable) != 1 else 'it'} with "
        f"the :material/delete: button under {' or '.join(sorted(places))}):"
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
st.subheader(f"Predictions ({counted(shots, 'shot')} per class)")
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
