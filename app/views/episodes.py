"""Real episodes: one 5-way task from real data, every method's predictions side by side."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import streamlit as st

from app import compute, url_state
from app.resources import PRETRAINED, available_datasets, benchmark_models
from hypermaml.data.reference import OMNIGLOT_EMNIST, PAPER_PROTOCOL

LABELS = {"hypermaml": "HyperMAML", "maml": "MAML", "protonet": "ProtoNet"}
N_WAY, MAX_STEPS = compute.N_WAY, compute.MAX_STEPS
accuracy = compute.accuracy
SEEN = {
    "emnist-test": "The models were meta-trained on Omniglot characters and never saw EMNIST's letters and digits.",
    "emnist-val": "The models never trained on EMNIST, but these classes (even indices) chose their epochs and "
    "recipes, so they are not a clean test.",
    "omniglot-test": "Omniglot characters of the Vinyals test split, with models meta-trained on the Vinyals "
    "training split only (1 shot): they never saw these characters.",
    "digits": "scikit-learn's 8×8 digits, upscaled; the models never saw them.",
}


@st.cache_data(max_entries=256, show_spinner="Adapting the transductive models ...")
def transductive_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict[str, tuple[float, float]]:
    """The transductive models' accuracy on one episode with its queries together and one at a time."""
    return compute.run(compute.transductive_results, name, n_shot, seed, benchmark)


@st.cache_data(max_entries=256, show_spinner="Adapting every model to this episode ...")
def episode_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict:
    """Everything the page shows for one episode, computed once (in a worker process, ``app.compute``) and
    shared by every visitor: the images and each method's probabilities (MAML's at every step 0..10 from one
    inner loop)."""
    return compute.run(compute.episode_results, name, n_shot, seed, benchmark)


@st.cache_data(show_spinner=False)
def benchmark_table() -> str:
    """The stored benchmark numbers beside the paper's, as a Markdown table (read once, then cached)."""
    lines = [
        "| method | shots | ours, one at a time (%) | paper (%) | transductive: together / alone (%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for (method, shot), paper in OMNIGLOT_EMNIST.items():
        ours, old_row = "not trained yet", "–"
        path = PRETRAINED / f"omniglot_emnist_{method}_{shot}shot.json"
        if path.is_file():
            m = json.loads(path.read_text())
            if "test_accuracy_alone" in m:
                ours = f"{100 * m['test_accuracy_alone']:.2f} ± {100 * m['test_ci95_alone']:.2f}"
        old = PRETRAINED / "transductive" / path.name
        if old.is_file():
            m = json.loads(old.read_text())
            if "test_accuracy_alone" in m:
                old_row = f"{100 * m['test_accuracy']:.1f} / {100 * m['test_accuracy_alone']:.1f}"
        lines.append(f"| {LABELS[method]} | {shot} | {ours} | {paper} | {old_row} |")
    return "\n".join(lines)


MAX_SEED = 2**31 - 1
choices = available_datasets()
view = url_state.View(
    "episodes",
    [
        # always in the URL: the default is the first dataset this server has, which differs between servers
        url_state.choice("data", "episodes_data", "Images", next(iter(choices)), {n: n for n in choices}, always=True),
        url_state.choice("shots", "episodes_shots", "Shots", 1, {"1": 1, "5": 5}),
        url_state.integer("seed", "episodes_seed", "Episode seed", 0, 0, MAX_SEED),
        url_state.integer("steps", "episodes_maml_steps", "MAML inner steps", 5, 0, MAX_STEPS),
    ],
)
view.header("Real episodes")
st.caption(
    "A 5-way task sampled from real images: a few labelled support images per class, then queries. "
    "Every model here classifies each query on its own: its answer depends on the support set and that "
    "image, never on the other queries."
)

c1, c2, c3, c4 = st.columns([3, 1, 1, 2])
# No value= on the widgets below: `view` gave each its value (from the link, or the default).
name = c1.selectbox("Images", list(choices), format_func=lambda n: f"{n}: {choices[n]}", key="episodes_data")
vinyals = name == "omniglot-test"
shot_options = [1] if vinyals else [1, 5]
if st.session_state.episodes_shots not in shot_options:
    if "shots" in view.seeded:
        view.note("The link asks for 5 shots, but the Vinyals Omniglot models exist for 1 shot only: showing 1 shot.")
    st.session_state.episodes_shots = shot_options[0]
n_shot = int(
    c2.radio(
        "Shots",
        shot_options,
        horizontal=True,
        key="episodes_shots",
        help="The Vinyals Omniglot models exist for 1 shot only." if vinyals else None,
    )
)
seed = int(c3.number_input("Episode seed", min_value=0, max_value=MAX_SEED, step=1, key="episodes_seed"))
steps = c4.slider(
    "MAML inner steps",
    0,
    MAX_STEPS,
    key="episodes_maml_steps",
    help="Gradient steps MAML takes on the support set (the curve below shows every count).",
)
view.write()
st.caption(SEEN[name])
if "digits" == name and len(choices) == 1:
    st.info("Only scikit-learn's digits are available: set HYPERMAML_DATA to the shared data folder for EMNIST and Omniglot.")

benchmark = "omniglot_vinyals" if vinyals else "omniglot_emnist"
if not benchmark_models(n_shot, benchmark):
    st.warning(f"No {n_shot}-shot {benchmark} checkpoints are bundled yet.")
    st.stop()
result = episode_results(name, n_shot, seed, benchmark)
names = result["names"]
query_y = result["query_y"]
probs = dict(result["probs"])
if result["maml_steps"]:
    probs = {"hypermaml": probs.get("hypermaml"), "maml": result["maml_steps"][steps], "protonet": probs.get("protonet")}
    probs = {k: v for k, v in probs.items() if v is not None}

st.subheader("Support set")
cols = st.columns(N_WAY)
for k, col in enumerate(cols):
    imgs = [img for img, label in zip(result["support"], result["support_y"]) if label == k]
    col.markdown(f"**{names[k]}**")
    col.image(imgs, width=44 if len(imgs) > 1 else 56, output_format="PNG")

metric_cols = st.columns(len(probs))
for col, (method, p) in zip(metric_cols, probs.items()):
    label = f"{LABELS[method]} accuracy" + (f" ({steps} steps)" if method == "maml" else "")
    col.metric(label, f"{100 * accuracy(p, query_y):.0f}%", help=f"{len(query_y)} queries, each classified on its own")

st.subheader("Queries and predictions")
st.caption("Each column holds queries of the class above it.")
qcols = st.columns(N_WAY)
for i in range(len(query_y)):
    truth = int(query_y[i])
    col = qcols[truth]
    lines = []
    for method, p in probs.items():
        guess = int(p[i].argmax())
        mark = ":green[✓]" if guess == truth else ":red[✗]"
        lines.append(f"{mark} {LABELS[method]}: {names[guess]} ({100 * float(p[i, guess]):.0f}%)")
    col.image(result["query"][i], width=56, output_format="PNG")
    col.caption("  \n".join(lines))

if result["maml_steps"]:
    st.subheader("MAML: accuracy as the inner steps grow")
    accs = [100 * accuracy(p, query_y) for p in result["maml_steps"]]
    data = [
        dict(type="scatter", x=list(range(len(accs))), y=accs, mode="lines+markers", name="MAML"),
        dict(
            type="scatter",
            x=[steps],
            y=[accs[steps]],
            mode="markers",
            name="shown above",
            marker=dict(size=14, color="black", symbol="circle-open"),
        ),
    ]
    layout = dict(
        xaxis=dict(title=dict(text="inner steps")),
        yaxis=dict(title=dict(text="query accuracy (%)"), range=[-5, 105]),
        height=320,
        margin=dict(t=20, b=10),
        legend=dict(orientation="h", y=1.12),
    )
    if "hypermaml" in probs:
        hyper_acc = 100 * accuracy(probs["hypermaml"], query_y)
        data.append(
            dict(
                type="scatter",
                x=[0, len(accs) - 1],
                y=[hyper_acc, hyper_acc],
                mode="lines",
                name="HyperMAML (one update)",
                line=dict(dash="dash", color="#2ca02c"),
            )
        )
    fig = go.Figure(dict(data=data, layout=layout), _validate=False)  # plain dicts: no per-property validation
    st.plotly_chart(fig, width="stretch", key="maml_steps")

if benchmark_models(n_shot, benchmark, transductive=True):
    with st.expander("Why every query is classified on its own: compare the paper's transductive models"):
        st.markdown(
            "The paper's code normalises the query images with the statistics of *the whole batch of queries* "
            "(transductive BatchNorm). That scores well when 15 queries of 5 classes arrive together, and badly "
            "for one picture. The shipped models take their statistics from the support set and the image "
            "itself (MetaBN / TaskNorm-I), so a picture gets the same answer alone or in a crowd."
        )
        if st.toggle("Run the transductive models on this episode", key="episodes_transductive"):
            st.markdown(
                "\n".join(
                    ["| method | queries together | one query at a time |", "|---|---:|---:|"]
                    + [
                        f"| {LABELS[m]} | {100 * a:.0f}% | {100 * b:.0f}% |"
                        for m, (a, b) in transductive_results(name, n_shot, seed, benchmark).items()
                    ]
                )
            )

st.subheader("Benchmark: Omniglot → EMNIST, 600 test episodes")
st.markdown(benchmark_table())
st.caption(
    f"Ours: `python -m benchmarks.omniglot_emnist` on the bundled checkpoints (the README says how they were "
    f"trained). The paper's numbers are {PAPER_PROTOCOL}."
)
