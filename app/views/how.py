"""How it works: HyperMAML in one picture, next to MAML."""

from __future__ import annotations

import streamlit as st

from app import url_state

url_state.View("how", []).header("How HyperMAML works")  # nothing to set here; the link button, as on every page
st.markdown(
    "Both methods start from a classifier θ that was **meta-learned** over many small tasks, and both must "
    "turn a handful of labelled examples (the *support set*) into a classifier for a new task. They differ "
    "in how they compute that task's classifier θ'."
)

left, right = st.columns(2)
with left:
    st.subheader("MAML: k gradient steps")
    st.graphviz_chart(
        """
        digraph { rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#f7f7f7", fontname="Helvetica"];
          S [label="support set\\n(x, y)"]; T0 [label="θ\\n(meta-learned)"];
          L [label="loss on the\\nsupport set"]; G [label="gradient\\n∇θ loss"];
          U [label="θ ← θ − η ∇θ loss", fillcolor="#fddbc7"]; Q [label="classify\\nqueries with θ'"];
          S -> L; T0 -> L; L -> G -> U; U -> L [label=" repeat k times", style=dashed]; U -> Q; }
        """
    )
    st.markdown(
        "Each step needs a forward **and a backward** pass through the model, and the step size η and "
        "the number of steps k are fixed by hand. One step from a shared start often is not enough."
    )
with right:
    st.subheader("HyperMAML: one forward pass")
    st.graphviz_chart(
        """
        digraph { rankdir=TB; nodesep=0.2; node [shape=box, style="rounded,filled", fillcolor="#f7f7f7", fontname="Helvetica"];
          S [label="support images"]; E [label="encoder (Conv4)"]; Z [label="embeddings e"];
          P [label="base classifier θ:\\nsoftmax(θ·e)"]; Y [label="true labels\\n(one-hot)"];
          C [label="enhanced embeddings\\n[e, softmax, one-hot],\\nper class"];
          H [label="hypernetwork\\n(MLP, shared by all classes)", fillcolor="#d1e5f0"];
          D [label="Δθ: a weight row\\nand bias per class"]; U [label="θ' = θ + Δθ", fillcolor="#d1e5f0"];
          Q [label="classify queries with θ'"];
          S -> E -> Z; Z -> P; Z -> C; P -> C; Y -> C; C -> H -> D -> U -> Q; }
        """
    )
    st.markdown(
        "The hypernetwork sees what a gradient step would use — the examples, what the base classifier "
        "predicts for them, and the truth — and is trained end to end to output the update directly."
    )

st.subheader("Try it")
st.page_link(
    "views/toy.py", label="One update vs k steps: the paper's toy tasks, every step drawn", icon=":material/scatter_plot:"
)
st.page_link("views/episodes.py", label="Real episodes: letters, digits and Omniglot characters", icon=":material/grid_view:")
st.page_link("views/own_task.py", label="Your own task: five classes of your images", icon=":material/photo_library:")
st.markdown(
    "Reference: M. Przewięźlikowski, P. Przybysz, J. Tabor, M. Zięba, P. Spurek, *HyperMAML: Few-shot "
    "adaptation of deep models with hypernetworks*, [arXiv 2205.15745](https://arxiv.org/abs/2205.15745)."
)
