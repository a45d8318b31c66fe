"""One update vs k steps, on the paper's four-Gaussian toy (Figure 1)."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import streamlit as st
import torch

from app.resources import toy_models
from toy.figure import draw_panel
from toy.tasks import TASK_TYPES, sample_task, task_type_name

st.title("One hypernetwork update vs k gradient steps")
st.caption(
    "Binary tasks from the HyperMAML paper's Figure 1: two upright ellipses side by side, or two flat ones "
    "stacked, with the labels in either order. The classifier is linear on the raw coordinates. "
    "HyperMAML predicts its update in one forward pass; MAML takes gradient steps from its learned start."
)

models = toy_models()
names = [task_type_name(p, s) for p, s in TASK_TYPES]
left, mid, right = st.columns(3)
choice = left.selectbox("Task type", names, index=0)
n_shot = mid.slider("Support points per class", 1, 10, 5, help="The models were meta-trained with 5.")
seed = right.number_input("Task seed", min_value=0, value=0, step=1, help="Draw another task of this type.")
steps = st.slider("MAML inner steps (0 = the meta-initialisation)", 0, 10, 1)

pair, swapped = TASK_TYPES[names.index(choice)]
episode = sample_task(pair, swapped, n_shot, 50, torch.Generator().manual_seed(int(seed)))
hyper = models["hypermaml"]
panels = [("MAML", models["maml"], {"steps": steps}, f"MAML after {steps} step{'s' if steps != 1 else ''}"),
          ("ProtoNet", models["protonet"], {}, "ProtoNet (nearest class mean)")]
if hyper.config.hypermaml.aggregation == "mean" or n_shot == hyper.config.n_shot:
    panels.insert(0, ("HyperMAML", hyper, {}, "HyperMAML, one update"))
else:
    st.info(f"The bundled HyperMAML concatenates exactly {hyper.config.n_shot} support points per class; "
            f"set the slider to {hyper.config.n_shot} to see it.")

columns = st.columns(len(panels))
for col, (label, model, kwargs, title) in zip(columns, panels):
    fig, ax = plt.subplots(figsize=(4, 4))
    start = time.perf_counter()
    accuracy = draw_panel(ax, model, episode, kwargs)
    elapsed_ms = 1000 * (time.perf_counter() - start)
    ax.set_title(title, fontsize=11)
    col.pyplot(fig, clear_figure=True)
    plt.close(fig)
    col.metric(f"{label} query accuracy", f"{100 * accuracy:.0f}%")
    col.caption(f"adapt + draw: {elapsed_ms:.0f} ms")
