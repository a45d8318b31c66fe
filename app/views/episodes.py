"""Real episodes: one 5-way task from real data, every method's predictions side by side."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import hypermaml as hm
from app.resources import PRETRAINED, available_datasets, benchmark_models, dataset
from hypermaml.data.reference import OMNIGLOT_EMNIST, PAPER_PROTOCOL

LABELS = {"hypermaml": "HyperMAML", "maml": "MAML", "protonet": "ProtoNet"}
N_WAY, N_QUERY, MAX_STEPS = 5, 3, 10
SEEN = {
    "emnist-test": "The models were meta-trained on Omniglot characters and never saw EMNIST's letters and digits.",
    "emnist-val": "The models never trained on EMNIST, but these classes (even indices) chose their epochs and "
                  "recipes, so they are not a clean test.",
    "omniglot-test": "Omniglot characters of the Vinyals test split, with models meta-trained on the Vinyals "
                     "training split only (1 shot): they never saw these characters.",
    "digits": "scikit-learn's 8×8 digits, upscaled; the models never saw them.",
}


def picture(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).numpy() * 255).astype(np.uint8)


def accuracy(probs: torch.Tensor, y: torch.Tensor) -> float:
    return (probs.argmax(-1) == y).float().mean().item()


def sample_episode(name: str, n_shot: int, seed: int) -> tuple[hm.Episode, list[int]]:
    data = dataset(name)
    sampler = hm.EpisodeSampler(data.x, data.y, N_WAY, n_shot, N_QUERY, data.class_names)
    return sampler.sample_with_classes(torch.Generator().manual_seed(seed))


@st.cache_data(max_entries=256, show_spinner="Adapting the transductive models ...")
def transductive_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict[str, tuple[float, float]]:
    """The transductive models' accuracy on one episode with its queries together and one at a time."""
    episode, _ = sample_episode(name, n_shot, seed)
    out = {}
    for method, model in benchmark_models(n_shot, benchmark, transductive=True).items():
        with torch.no_grad():
            task = model.adapt(episode.support_x, episode.support_y)
            together = model.logits(episode.query_x, task)
            alone = torch.cat([model.logits(x[None], task) for x in episode.query_x])
        out[method] = (accuracy(together, episode.query_y), accuracy(alone, episode.query_y))
    return out


@st.cache_data(max_entries=256, show_spinner="Adapting every model to this episode ...")
def episode_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict:
    """Everything the page shows for one episode, computed once and shared by every visitor: the images and
    each method's probabilities (MAML's at every step 0..10 from one inner loop)."""
    models = benchmark_models(n_shot, benchmark)
    episode, class_ids = sample_episode(name, n_shot, seed)
    out: dict = {
        "names": [dataset(name).class_names[c] for c in class_ids],  # labels 0..4 are assigned to classes at random
        "support": [picture(x) for x in episode.support_x], "support_y": episode.support_y.tolist(),
        "query": [picture(x) for x in episode.query_x], "query_y": episode.query_y,
        "probs": {}, "maml_steps": [],
    }
    for method, model in models.items():
        if method == "maml":
            trajectory = model.adapt_trajectory(episode.support_x, episode.support_y, steps=MAX_STEPS)
            with torch.no_grad():
                out["maml_steps"] = [model.predict_proba(episode.query_x, task) for task in trajectory]
        else:
            with torch.no_grad():
                out["probs"][method] = model.predict_proba(episode.query_x, model.adapt(episode.support_x, episode.support_y))
    return out


st.title("Real episodes")
st.caption("A 5-way task sampled from real images: a few labelled support images per class, then queries. "
           "Every model here classifies each query on its own: its answer depends on the support set and that "
           "image, never on the other queries.")

choices = available_datasets()
c1, c2, c3, c4 = st.columns([3, 1, 1, 2])
name = c1.selectbox("Images", list(choices), format_func=lambda n: f"{n}: {choices[n]}")
vinyals = name == "omniglot-test"
shot_options = [1] if vinyals else [1, 5]
n_shot = int(c2.radio("Shots", shot_options, horizontal=True, help="The Vinyals Omniglot models exist for 1 shot only." if vinyals else None))
seed = int(c3.number_input("Episode seed", min_value=0, value=0, step=1))
steps = c4.slider("MAML inner steps", 0, MAX_STEPS, 5, key="episodes_maml_steps",
                  help="Gradient steps MAML takes on the support set (the curve below shows every count).")
st.caption(SEEN[name])
if "digits" == name and len(choices) == 1:
    st.info("Only scikit-learn's digits are available: set HYPERMAML_DATA to the shared data folder for EMNIST "
            "and Omniglot.")

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
    col.image(imgs, width=44 if len(imgs) > 1 else 56)

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
    col.image(result["query"][i], width=56)
    col.caption("  \n".join(lines))

if result["maml_steps"]:
    st.subheader("MAML: accuracy as the inner steps grow")
    accs = [100 * accuracy(p, query_y) for p in result["maml_steps"]]
    fig = go.Figure(go.Scatter(x=list(range(len(accs))), y=accs, mode="lines+markers", name="MAML"))
    fig.add_trace(go.Scatter(x=[steps], y=[accs[steps]], mode="markers", marker=dict(size=14, color="black", symbol="circle-open"),
                             name="shown above"))
    if "hypermaml" in probs:
        fig.add_hline(y=100 * accuracy(probs["hypermaml"], query_y), line_dash="dash", annotation_text="HyperMAML (one update)")
    fig.update_layout(xaxis_title="inner steps", yaxis_title="query accuracy (%)", height=320, margin=dict(t=20, b=10),
                      yaxis_range=[-5, 105], legend=dict(orientation="h", y=1.12))
    st.plotly_chart(fig, width="stretch", key="maml_steps")

if benchmark_models(n_shot, benchmark, transductive=True):
    with st.expander("Why every query is classified on its own: compare the paper's transductive models"):
        st.markdown(
            "The paper's code normalises the query images with the statistics of *the whole batch of queries* "
            "(transductive BatchNorm). That scores well when 15 queries of 5 classes arrive together, and badly "
            "for one picture. The shipped models take their statistics from the support set and the image "
            "itself (MetaBN / TaskNorm-I), so a picture gets the same answer alone or in a crowd.")
        if st.toggle("Run the transductive models on this episode", key="episodes_transductive"):
            st.table([{"method": LABELS[m], "queries together": f"{100 * a:.0f}%", "one query at a time": f"{100 * b:.0f}%"}
                      for m, (a, b) in transductive_results(name, n_shot, seed, benchmark).items()])

st.subheader("Benchmark: Omniglot → EMNIST, 600 test episodes")
rows = []
for (method, shot), paper in OMNIGLOT_EMNIST.items():
    row = {"method": LABELS[method], "shots": shot, "ours, one at a time (%)": "not trained yet", "paper (%)": paper}
    path = PRETRAINED / f"omniglot_emnist_{method}_{shot}shot.json"
    if path.is_file():
        m = json.loads(path.read_text())
        if "test_accuracy_alone" in m:
            row["ours, one at a time (%)"] = f"{100 * m['test_accuracy_alone']:.2f} ± {100 * m['test_ci95_alone']:.2f}"
    old = PRETRAINED / "transductive" / path.name
    if old.is_file():
        m = json.loads(old.read_text())
        if "test_accuracy_alone" in m:
            row["transductive: together / alone (%)"] = f"{100 * m['test_accuracy']:.1f} / {100 * m['test_accuracy_alone']:.1f}"
    rows.append(row)
st.table(rows)
st.caption(f"Ours: `python -m benchmarks.omniglot_emnist` on the bundled checkpoints (the README says how they were "
           f"trained). The paper's numbers are {PAPER_PROTOCOL}.")
