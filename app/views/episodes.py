"""Real episodes: one 5-way task from real data, every method's predictions side by side."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import hypermaml as hm
from app.resources import PRETRAINED, available_datasets, benchmark_models, dataset
from benchmarks.omniglot_emnist import PAPER

LABELS = {"hypermaml": "HyperMAML", "maml": "MAML", "protonet": "ProtoNet"}
N_WAY, N_QUERY = 5, 3

st.title("Real episodes")
st.caption("A 5-way task sampled from real images: a few labelled support images per class, then queries. "
           "The models were meta-trained on Omniglot characters (never on these classes).")

choices = available_datasets()
c1, c2, c3 = st.columns([3, 1, 1])
name = c1.selectbox("Images", list(choices), format_func=lambda n: f"{n}: {choices[n]}")
n_shot = c2.radio("Shots", [1, 5], horizontal=True)
seed = c3.number_input("Episode seed", min_value=0, value=0, step=1)
if "digits" == name and len(choices) == 1:
    st.info("Only scikit-learn's digits are available: set HYPERMAML_DATA to the shared data folder for EMNIST "
            "and Omniglot.")

models = benchmark_models(int(n_shot))
if not models:
    st.warning(f"No {n_shot}-shot benchmark checkpoints are bundled yet.")
    st.stop()

data = dataset(name)
sampler = hm.EpisodeSampler(data.x, data.y, N_WAY, int(n_shot), N_QUERY, data.class_names)
episode, class_ids = sampler.sample_with_classes(torch.Generator().manual_seed(int(seed)))
names = [data.class_names[c] for c in class_ids]  # labels 0..4 are assigned to classes at random


def picture(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).numpy() * 255).astype(np.uint8)


st.subheader("Support set")
cols = st.columns(N_WAY)
for k, col in enumerate(cols):
    imgs = [picture(episode.support_x[i]) for i in range(len(episode.support_y)) if episode.support_y[i] == k]
    col.image(imgs, width=56, caption=[f"class {k}: {names[k]}"] + [""] * (len(imgs) - 1))

probs = {}
with torch.no_grad():
    for method, model in models.items():
        probs[method] = model.predict_proba(episode.query_x, model.adapt(episode.support_x, episode.support_y))

metric_cols = st.columns(len(models))
for col, (method, p) in zip(metric_cols, probs.items()):
    accuracy = (p.argmax(-1) == episode.query_y).float().mean().item()
    col.metric(f"{LABELS[method]} accuracy", f"{100 * accuracy:.0f}%", help=f"{len(episode.query_y)} queries")

st.subheader("Queries and predictions")
qcols = st.columns(N_WAY)
for i in range(len(episode.query_y)):
    col = qcols[i % N_WAY]
    truth = int(episode.query_y[i])
    lines = []
    for method, p in probs.items():
        guess = int(p[i].argmax())
        mark = ":green[✓]" if guess == truth else ":red[✗]"
        lines.append(f"{mark} {LABELS[method]}: {guess} ({100 * float(p[i, guess]):.0f}%)")
    col.image(picture(episode.query_x[i]), width=56)
    col.caption(f"truth: {truth} ({names[truth]})  \n" + "  \n".join(lines))

if "maml" in models:
    st.subheader("MAML: accuracy as the inner steps grow")
    maml = models["maml"]
    steps = list(range(0, 11))
    accs = []
    for task in maml.adapt_trajectory(episode.support_x, episode.support_y, steps=steps[-1]):
        with torch.no_grad():
            accs.append((maml.logits(episode.query_x, task).argmax(-1) == episode.query_y).float().mean().item())
    fig = go.Figure(go.Scatter(x=steps, y=[100 * a for a in accs], mode="lines+markers", name="MAML"))
    if "hypermaml" in probs:
        hyper_acc = 100 * (probs["hypermaml"].argmax(-1) == episode.query_y).float().mean().item()
        fig.add_hline(y=hyper_acc, line_dash="dash", annotation_text="HyperMAML (one update)")
    fig.update_layout(xaxis_title="inner steps", yaxis_title="query accuracy (%)", height=320, margin=dict(t=20, b=10))
    st.plotly_chart(fig, width="stretch", key="maml_steps")

st.subheader("Benchmark: Omniglot → EMNIST, 600 test episodes")
rows = []
for (method, shot), paper in PAPER.items():
    path = PRETRAINED / f"omniglot_emnist_{method}_{shot}shot.json"
    ours = "not trained yet"
    if path.is_file():
        m = json.loads(path.read_text())
        ours = f"{100 * m['test_accuracy']:.2f} ± {100 * m['test_ci95']:.2f}"
    rows.append({"method": LABELS[method], "shots": shot, "ours (%)": ours, "paper (%)": paper})
st.table(rows)
st.caption("Ours: `python -m benchmarks.omniglot_emnist` on the bundled checkpoints (see the README for how "
           "they were trained and why some rows are below the paper).")
