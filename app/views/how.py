"""How it works: HyperMAML in one picture, next to MAML."""

from __future__ import annotations

import streamlit as st

from app import url_state
from app.figures import PT, SCALE, TEXT_PX, figure_bytes, new_figure

presenting = url_state.presenter()
COLUMN_W = 460 if presenting else 314  # each diagram's column on a 1024 px screen (two columns)
GREY, RED, BLUE = "#f2f2f2", "#fddbc7", "#d1e5f0"

# (name, text, x, row, colour), then arrows (from, to, label): each diagram is a column of boxes, top to bottom.
MAML = (
    [
        ("S", "support set (x, y)", 0.29, 0, GREY),
        ("T", "θ (meta-learned)", 0.76, 0, GREY),
        ("L", "loss on the\nsupport set", 0.6, 1, GREY),
        ("G", "gradient ∇θ loss\n(a backward pass)", 0.6, 2, GREY),
        ("U", "θ ← θ − η ∇θ loss", 0.6, 3, RED),
        ("Q", "classify the queries\nwith θ'", 0.6, 4, GREY),
    ],
    [("S", "L", ""), ("T", "L", ""), ("L", "G", ""), ("G", "U", ""), ("U", "L", "repeat\nk times"), ("U", "Q", "")],
)
HYPER = (
    [
        ("S", "support images", 0.5, 0, GREY),
        ("E", "encoder (Conv4)", 0.5, 1, GREY),
        ("Z", "embeddings e", 0.5, 2, GREY),
        ("P", "base classifier\nsoftmax(θ·e)", 0.26, 3, GREY),
        ("Y", "true labels\n(one-hot)", 0.8, 3, GREY),
        ("C", "[e, softmax, one-hot]\nper class", 0.5, 4, GREY),
        ("H", "hypernetwork (an MLP\nshared by all classes)", 0.5, 5, BLUE),
        ("D", "Δθ: a weight row and\nbias per class", 0.5, 6, GREY),
        ("U", "θ' = θ + Δθ", 0.5, 7, BLUE),
        ("Q", "classify the queries\nwith θ'", 0.5, 8, GREY),
    ],
    [("S", "E", ""), ("E", "Z", ""), ("Z", "P", ""), ("Z", "C", ""), ("P", "C", ""), ("Y", "C", ""), ("C", "H", ""),
     ("H", "D", ""), ("D", "U", ""), ("U", "Q", "")],
)  # fmt: skip
ROW_PX = 70


@st.cache_data(show_spinner=False)
def diagram(which: str, width: int, fmt: str = "png") -> bytes:
    """One flow diagram drawn for ``width`` CSS pixels, its text at 14-15 px (drawn once per server)."""
    nodes, edges = {"maml": MAML, "hyper": HYPER}[which]
    rows = 1 + max(n[3] for n in nodes)
    height = rows * ROW_PX + 10
    figure = new_figure(width, height)
    figure.set_layout_engine(None)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    boxes = {}
    for name, text, x, row, colour in nodes:
        boxes[name] = ax.text(
            x * width, 8 + row * ROW_PX + ROW_PX / 2 - 6, text, ha="center", va="center", fontsize=(TEXT_PX + 1) * PT,
            linespacing=1.15, bbox=dict(boxstyle="round,pad=0.45", fc=colour, ec="#555", lw=1.1),
        )  # fmt: skip
    for a, b, label in edges:
        back = label != ""
        ax.annotate(
            "", xy=(0.5, 1) if not back else (0.0, 0.5), xycoords=boxes[b], xytext=(0.5, 0) if not back else (0.0, 0.5),
            textcoords=boxes[a],  # (fractions of each text's extent, y up; the box's padding is shrunk away)
            arrowprops=dict(arrowstyle="-|>", color="#333", lw=1.3, shrinkA=7, shrinkB=7,
                            connectionstyle="arc3,rad=0.0" if not back else "arc3,rad=-0.8", ls="--" if back else "-"),
        )  # fmt: skip
        if back:
            ax.text(4, 8 + 2.5 * ROW_PX, label, ha="left", va="center", fontsize=TEXT_PX * PT, style="italic")
    return figure_bytes(figure, fmt)


def downloads(which: str, stem: str) -> None:
    with st.container(horizontal=True, key=f"how_{which}_downloads"):
        for fmt, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
            st.download_button(fmt.upper(), lambda fmt=fmt: diagram(which, COLUMN_W, fmt), f"{stem}.{fmt}", mime,
                               key=f"how_{which}_{fmt}", icon=":material/download:", on_click="ignore",
                               help=f"Download this diagram as {fmt.upper()}")  # fmt: skip


view = url_state.View("how", [])  # nothing of its own to set: the studio-wide settings, the link button
view.header("How HyperMAML works")
view.write()
st.markdown(
    "Both methods start from a classifier θ that was **meta-learned** over many small tasks, and both must "
    "turn a handful of labelled examples (the *support set*) into a classifier for a new task. They differ "
    "in how they compute that task's classifier θ'."
)

left, right = st.columns(2)
with left:
    st.subheader("MAML: k gradient steps")
    st.image(diagram("maml", COLUMN_W), width=round(COLUMN_W * SCALE), output_format="PNG")
    downloads("maml", "maml-diagram")
    st.markdown(
        "Each step needs a forward **and a backward** pass through the model, and the step size η and "
        "the number of steps k are fixed by hand. One step from a shared start often is not enough."
    )
with right:
    st.subheader("HyperMAML: one forward pass")
    st.image(diagram("hyper", COLUMN_W), width=round(COLUMN_W * SCALE), output_format="PNG")
    downloads("hyper", "hypermaml-diagram")
    st.markdown(
        "The hypernetwork sees what a gradient step would use — the examples, what the base classifier "
        "predicts for them, and the truth — and is trained end to end to output the update directly."
    )

st.subheader("Try it")
# short labels (a page link does not wrap: a long one is cut off on a phone), each with a caption that does
for page, label, icon, what in (
    ("views/toy.py", "One update vs k steps", "scatter_plot", "The paper's toy tasks, every MAML step drawn."),
    ("views/episodes.py", "Real episodes", "grid_view", "Letters, digits and Omniglot characters, five classes at a time."),
    ("views/own_task.py", "Your own task", "photo_library", "Five classes of your own images."),
    ("views/room.py", "Classroom", "groups", "A task the whole class builds from their phones."),
):
    st.page_link(page, label=label, icon=f":material/{icon}:")
    st.caption(what)
st.subheader("Read more")
st.markdown(
    "The project's documentation (serve it with `mkdocs serve` from the repository, or read the files): "
    "the library tutorial (`docs/tutorial.md`), the studio for teachers and serving a class (`docs/studio.md`, "
    "`docs/serve_a_class.md`), how every shipped number was made (`docs/reproduce.md`) and what the speed "
    "work tried (`docs/speed.md`)."
)
st.markdown(
    "Reference: M. Przewięźlikowski, P. Przybysz, J. Tabor, M. Zięba, P. Spurek, *HyperMAML: Few-shot "
    "adaptation of deep models with hypernetworks*, [arXiv 2205.15745](https://arxiv.org/abs/2205.15745)."
)
