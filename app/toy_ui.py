"""Self-contained panels of the toy page (``app/views/toy.py``): figure downloads and live training.

Importing this module runs no page code; the page calls these functions where it shows them.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import workers
from app.figures import LABELS, METHOD_COLOURS, curves_chart
from app.live_training import LIVE_SCALE, PROGRESS_EVERY, LiveTraining

state = st.session_state


def downloads(key: str, stem: str, png, svg, what: str = "this figure") -> None:
    """PNG and SVG buttons for a figure; ``png`` bytes (what is shown) or a callable, ``svg`` a callable run only
    when clicked (drawn anew as vector graphics)."""
    with st.container(horizontal=True, key=f"{key}_downloads"):
        st.download_button("PNG", png, f"{stem}.png", "image/png", key=f"{key}_png", icon=":material/download:",
                           on_click="ignore", help=f"Download {what} as a PNG picture")  # fmt: skip
        st.download_button("SVG", svg, f"{stem}.svg", "image/svg+xml", key=f"{key}_svg", icon=":material/download:",
                           on_click="ignore", help=f"Download {what} as an SVG drawing (for slides, any size)")  # fmt: skip


def live_training_panel() -> None:
    """Start, follow and stop live training. The run lives in a child process (``app.live_training``): touching
    any other widget reruns the page but neither stops nor loses it, and other visitors are not slowed."""
    job = state.get("toy_live_job")

    @st.fragment(run_every=1.0 if job is not None and job.running else None)
    def panel() -> None:
        job = state.get("toy_live_job")
        b1, b2 = st.columns([1, 3])
        if job is None or not job.running:
            if b1.button("Train now" if job is None else "Train again", key="toy_train"):
                state.toy_live_job = LiveTraining(state.get("toy_live_scale", LIVE_SCALE))
                st.rerun()
        else:
            was_running = job.running
            job.poll()
            if job.running and b1.button("Stop training", key="toy_stop"):
                job.stop()
                st.rerun()
            if was_running and not job.running:
                if job.models is not None:  # finished between two polls: hand the models to the page
                    state.toy_live_models = job.models
                    state.toy_live_key = f"live-{id(job)}"  # new models: new cache entries
                st.rerun()
        if job is None:
            return
        if job.running:
            b2.progress(
                job.fraction,
                text=f"training: {100 * job.fraction:.0f}% · {job.seconds:.0f} s · it keeps going while you use the page",
            )
        elif job.models is not None:
            b2.success(f'Trained all three in {job.seconds:.0f} s. Switch on "Use my freshly trained models" below.')
        elif job.stopped:
            b2.warning(f"Training stopped at {100 * job.fraction:.0f}% after {job.seconds:.0f} s: nothing was kept.")
        else:
            b2.error(f"Training failed: {job.error}")
        curves = {n: v for n, v in job.curves.items() if v}
        if curves:
            fig = go.Figure(
                [
                    # markers too: a model with one report so far (ProtoNet trains few steps) still shows
                    go.Scatter(
                        x=[min(PROGRESS_EVERY * (i + 1), job.totals[n]) for i in range(len(v))],
                        y=v,
                        mode="lines+markers",
                        name=f"{LABELS[n]} ({job.totals[n]} steps)",  # ProtoNet learns only its scale: 20 steps
                        line=dict(color=METHOD_COLOURS[n], width=2.5),
                        marker=dict(size=7),
                    )
                    for n, v in curves.items()
                ]
            )
            fig.update_layout(
                height=260,
                margin=dict(t=10, b=10),
                xaxis_title="optimiser step",
                yaxis_title="query loss",
                font=dict(size=14),
            )
            st.plotly_chart(fig, width="stretch", key="toy_live_curve")
            if not job.running:
                frozen = {n: list(v) for n, v in curves.items()}
                downloads(
                    "toy_live", "toy-live-training", lambda: workers.run(curves_chart, frozen, PROGRESS_EVERY, 660, "png"),
                    lambda: workers.run(curves_chart, frozen, PROGRESS_EVERY, 660, "svg"), "the training curves",
                )  # fmt: skip

    panel()
