"""Your own 5-way task: five classes of your images, then queries; every method's predictions."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from app.resources import benchmark_models
from app.user_task import (
    MAX_UPLOAD_BYTES,
    N_WAY,
    DecodeCache,
    Picture,
    TaskClass,
    classes_from_zip,
    decode,
    empty_task,
    held_bytes,
    predict,
    problems,
    results_rows,
    support_set,
    to_csv,
)
from hypermaml.data import ImageError
from hypermaml.data.folders import IMAGE_SUFFIXES

LABELS = {"hypermaml": "HyperMAML", "maml": "MAML", "protonet": "ProtoNet"}
ACCEPT = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)  # the readers' list, not a second one

state = st.session_state
state.setdefault("own_classes", empty_task())
state.setdefault("own_queries", [])
state.setdefault("own_seen_uploads", set())  # upload ids already copied into the task
state.setdefault("own_decoded", DecodeCache())  # this visitor's decoded pictures, bounded in bytes
for _i, _c in enumerate(state.own_classes):
    state.setdefault(f"own_name_{_i}", _c.name)


def load_zip() -> None:
    """on_change of the zip uploader: runs before the page, so it may set the class-name widgets."""
    archive = state.get("own_zip")
    if archive is None:
        return
    try:
        state.own_classes = classes_from_zip(archive.getvalue())
    except ImageError as exc:
        state.own_zip_message = ("error", f"{exc}. Nothing was changed.")
        return
    for i, c in enumerate(state.own_classes):
        state[f"own_name_{i}"] = c.name
    state.own_zip_message = ("success", "Loaded " + ", ".join(f"{c.name} ({len(c.pictures)})" for c in state.own_classes))


st.title("Your own 5-way task")
st.caption(
    "Give five classes a name and a few images each (per-class uploads, one zip with a folder per "
    "class, or the camera), then add query images. Everything you add stays here while you change "
    "settings; images are shown the way the models see them: 28×28, dark ink on a light background. "
    "Each query is classified on its own: the models normalise with your support images and that "
    "picture only, so a prediction never depends on the other queries you add."
)

polarity = st.radio(
    "Polarity",
    ["auto", "keep", "invert"],
    horizontal=True,
    key="own_polarity",
    help="The models expect dark ink on light paper. 'auto' inverts pictures whose border is dark.",
)


def take_uploads(files, target: list | TaskClass) -> None:
    """Copy newly uploaded files into the session once (the uploader keeps returning them)."""
    for f in files or []:
        if f.file_id in state.own_seen_uploads:
            continue
        state.own_seen_uploads.add(f.file_id)
        size = f.size if hasattr(f, "size") else len(f.getvalue())
        if held_bytes(state.own_classes, state.own_queries) + size > MAX_UPLOAD_BYTES:
            st.error(
                f"{f.name} was not added: your images would pass {MAX_UPLOAD_BYTES // 2**20} MB, the limit per "
                "visitor on this shared server. Clear some images (or use smaller ones) and add it again."
            )
            continue
        picture = Picture(f.name, f.getvalue())
        if isinstance(target, TaskClass):
            target.add(picture)
        elif all(p.key != picture.key for p in target):
            target.append(picture)


def show(pictures: list[Picture], container, width: int = 48) -> None:
    """Thumbnails as the model sees them; unreadable files are named, not fatal."""
    good, bad = [], []
    for p in pictures:
        try:
            good.append((decode(p, polarity, state.own_decoded)[0].numpy() * 255).astype(np.uint8))
        except ImageError as exc:
            bad.append(str(exc))
    if good:
        container.image(good, width=width)
    for message in bad:
        container.error(message)


tab_upload, tab_zip, tab_camera, tab_draw = st.tabs(["Upload per class", "One zip", "Camera", "Draw"])
with tab_upload:
    cols = st.columns(N_WAY)
    for i, (col, c) in enumerate(zip(cols, state.own_classes)):
        col.text_input(f"Class {i + 1} name", key=f"own_name_{i}")
        c.name = state[f"own_name_{i}"]
        take_uploads(
            col.file_uploader("Images", type=ACCEPT, accept_multiple_files=True, key=f"own_up_{i}", label_visibility="collapsed"),
            c,
        )
with tab_zip:
    st.file_uploader("A zip with exactly five folders, one per class", type=["zip"], key="own_zip", on_change=load_zip)
    if "own_zip_message" in state:
        kind, message = state.own_zip_message
        (st.success if kind == "success" else st.error)(message)
with tab_camera:
    target = st.selectbox("Add the photo to", [c.name for c in state.own_classes] + ["queries"], key="own_cam_target")
    shot = st.camera_input("Take a picture", key="own_camera")
    if shot is not None:
        take_uploads(
            [shot],
            state.own_queries if target == "queries" else state.own_classes[[c.name for c in state.own_classes].index(target)],
        )
with tab_draw:
    try:
        from streamlit_drawable_canvas import st_canvas  # optional: the page works without it
    except ImportError:
        st.info(
            "Drawing needs the optional package streamlit-drawable-canvas (`.venv/bin/pip install "
            "streamlit-drawable-canvas`). Uploads, zips and the camera work without it."
        )
    else:
        target = st.selectbox("Add the drawing to", [c.name for c in state.own_classes] + ["queries"], key="own_draw_target")
        canvas = st_canvas(
            stroke_width=12, stroke_color="#000000", background_color="#ffffff", height=200, width=200, key="own_canvas"
        )
        if st.button("Add drawing") and canvas.image_data is not None:
            import io

            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(canvas.image_data.astype(np.uint8)).save(buf, format="PNG")
            picture = Picture(f"drawing-{len(state.own_queries)}.png", buf.getvalue())
            (
                state.own_queries.append(picture)
                if target == "queries"
                else state.own_classes[[c.name for c in state.own_classes].index(target)].add(picture)
            )

st.subheader("Support set, as the models see it")
cols = st.columns(N_WAY)
for i, (col, c) in enumerate(zip(cols, state.own_classes)):
    col.markdown(f"**{c.name or '(no name)'}** · {len(c.pictures)} image(s)")
    show(c.pictures, col)
    if c.pictures and col.button("Clear", key=f"own_clear_{i}"):
        c.pictures.clear()
        st.rerun()

st.subheader("Queries")
take_uploads(st.file_uploader("Query images", type=ACCEPT, accept_multiple_files=True, key="own_queries_up"), state.own_queries)
show(state.own_queries, st)
if state.own_queries and st.button("Clear queries"):
    state.own_queries.clear()
    st.rerun()

issues = problems(state.own_classes)
if issues:
    for message in issues:
        st.warning(message)
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
            pass  # already reported under the thumbnails
    if not readable:
        st.warning("None of the query images could be read.")
        st.stop()
except ImageError as exc:
    st.error(f"{exc}: clear that class and add its images again in another format.")
    st.stop()
for note in notes:
    st.caption(note)

models = benchmark_models(5) or benchmark_models(1)
maml_steps = st.slider("MAML inner steps", 0, 10, 5, key="own_maml_steps") if "maml" in models else 0
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
class_names = [c.name.strip() for c in state.own_classes]
rows = results_rows([n for n, _ in readable], class_names, probs)
st.subheader(f"Predictions ({shots} shot{'s' if shots > 1 else ''} per class)")
st.dataframe(rows, hide_index=True, width="stretch")
st.download_button("Download the results as CSV", to_csv(rows), file_name="predictions.csv", mime="text/csv")
