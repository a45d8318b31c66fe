"""One update vs k steps, on the paper's four-Gaussian toy (Figure 1)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

import hypermaml as hm
from app import compute, url_state
from app.live_training import LIVE_SCALE, PROGRESS_EVERY, LiveTraining
from app.resources import toy_models
from toy.tasks import TASK_TYPES, sample_task, task_type_name

RANDOM = "random task type"
MAX_SEED = 2**31 - 1
MAX_POINTS = 100  # placed support points a link carries (a URL of about 1.5 kB)
POINT_RANGE = 50.0  # |x|, |y| of a placed point (the grid to click on spans ±16)
names = [task_type_name(p, s) for p, s in TASK_TYPES]
# In the URL: "horizontal-swapped", not "horizontal, labels swapped" (which a URL spells with %2C and +).
TASK_WORDS = {f"{p}-swapped" if s else p: name for (p, s), name in zip(TASK_TYPES, names)} | {"random": RANDOM}


view = url_state.View(
    "toy",
    [
        url_state.choice("type", "toy_type", "Task type", names[0], TASK_WORDS),
        url_state.integer("shots", "toy_shots", "Support points per class", 5, 1, 10),
        url_state.integer("seed", "toy_seed", "Task seed", 0, 0, MAX_SEED),
        url_state.number("shift_x", "toy_shift_x", "Shift x", 0.0, -10.0, 10.0, 0.5),
        url_state.number("shift_y", "toy_shift_y", "Shift y", 0.0, -10.0, 10.0, 0.5),
        url_state.integer("rotate", "toy_rotate", "Rotate the pair", 0, -90, 90, 5),
        url_state.number("spread", "toy_spread", "Spread", 1.0, 0.25, 3.0, 0.25),
        url_state.number("alpha", "toy_alpha", "Blend α", 1.0, 0.0, 1.5, 0.05),
        url_state.points("points", "toy_points", "Placed points", MAX_POINTS, POINT_RANGE),
        url_state.flag("use_points", "toy_use_points", "Use my points"),
    ],
)
view.header("One hypernetwork update vs k gradient steps")
st.caption(
    "Binary tasks from the HyperMAML paper's Figure 1: two upright ellipses side by side, or two flat ones "
    "stacked, with the labels in either order. The classifier is linear on the raw coordinates. "
    "HyperMAML predicts its update Δθ in one forward pass; MAML takes gradient steps from its learned "
    "initialisation θ (step 0). Large dots: the support set the models adapt on; small dots: queries."
)


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
        if any(job.curves.values()):
            fig = go.Figure([go.Scatter(y=v, mode="lines", name=n) for n, v in job.curves.items() if v])
            fig.update_layout(
                height=240,
                margin=dict(t=10, b=10),
                xaxis_title=f"optimiser step (every {PROGRESS_EVERY})",
                yaxis_title="query loss",
            )
            st.plotly_chart(fig, width="stretch", key="toy_live_curve")

    panel()


state = st.session_state
models = toy_models()
with st.expander("Train the three toy models yourself (about a minute on an idle machine)"):
    st.caption(
        "The documented recipe (`python -m toy.train`) with a third of its episodes: meta-batches of 16 "
        "tasks, validation every epoch, best weights kept. It runs in the background at low priority, so "
        "other visitors are not slowed; it takes longer while many people use the studio. Training never "
        "touches the bundled files."
    )
    live_training_panel()
    use_live = st.toggle("Use my freshly trained models", key="toy_use_live", disabled="toy_live_models" not in state)
if use_live and "toy_live_models" in state:
    models = state.toy_live_models
# No value= on the widgets below: `view` gave each its value (from the link, or the default).
c1, c2, c3 = st.columns([2, 2, 1])
choice = c1.selectbox("Task type", [*names, RANDOM], key="toy_type")
n_shot = c2.slider("Support points per class", 1, 10, key="toy_shots", help="The bundled models were meta-trained with 5.")
seed = c3.number_input(
    "Task seed", min_value=0, max_value=MAX_SEED, step=1, key="toy_seed", help="Draw another task of this type."
)

if "toy_panels_open" not in state:  # fixed per visitor (a changing `expanded` would fold a panel in use)
    moved = any(state[k] != d for k, d in (("toy_shift_x", 0), ("toy_shift_y", 0), ("toy_rotate", 0), ("toy_spread", 1)))
    state.toy_panels_open = (moved, bool(state.toy_points))  # a link that moves the task or places points
with st.expander("Move beyond the training distribution: which method copes?", expanded=state.toy_panels_open[0]):
    e1, e2, e3, e4 = st.columns(4)
    shift_x = e1.slider("Shift x", -10.0, 10.0, step=0.5, key="toy_shift_x")
    shift_y = e2.slider("Shift y", -10.0, 10.0, step=0.5, key="toy_shift_y")
    rotation = e3.slider("Rotate the pair (°)", -90, 90, step=5, key="toy_rotate")
    spread = e4.slider("Spread (× std)", 0.25, 3.0, step=0.25, key="toy_spread")
    st.caption(
        "The models never saw shifted, rotated or wider pairs. Gradient steps (and ProtoNet's class "
        "means) follow the support points wherever they are; the hypernetwork learned the four Gaussians."
    )

generator = torch.Generator().manual_seed(int(seed))
if choice == RANDOM:
    pair, swapped = TASK_TYPES[int(torch.randint(len(TASK_TYPES), (1,), generator=generator))]
else:
    pair, swapped = TASK_TYPES[names.index(choice)]
episode = sample_task(pair, swapped, n_shot, 50, generator, shift=(shift_x, shift_y), rotation_deg=rotation, spread=spread)

# state.toy_points: [(x, y, label)] placed by clicking (or given by the link)
with st.expander("Place the support points yourself (click the plot)", expanded=state.toy_panels_open[1]):
    st.caption(
        "Click anywhere on the grid to add a point of the chosen class; the queries still come from the "
        "task above, so the accuracies say how well your support set describes it."
    )
    p1, p2, p3 = st.columns([2, 1, 1])
    click_class = p1.radio(
        "Class of the next point",
        [0, 1],
        format_func=lambda k: ["blue (0)", "red (1)"][k],
        horizontal=True,
        key="toy_click_class",
    )

    def clear_points() -> None:  # a callback: runs before the widgets below exist, so it may reset them
        state.toy_points = []
        state.toy_last_pick = None  # the next click counts, even on the point picked last
        state.toy_use_points = False

    p2.button("Clear my points", key="toy_clear_points", on_click=clear_points)
    use_points = p3.toggle(
        "Use my points",
        key="toy_use_points",
        disabled=len({lab for _, _, lab in state.toy_points}) < 2,
        help="Needs at least one point of each class.",
    )
    # The grid is a chart of its own: drawn only while someone places points, so that every other change of
    # the page does not pay for it.
    if st.toggle("Show the grid to click on", key="toy_place_grid"):
        gx = torch.linspace(-16, 16, 41)
        grid_x, grid_y = torch.meshgrid(gx, gx, indexing="xy")
        click_fig = go.Figure(
            go.Scatter(
                x=grid_x.flatten().tolist(),
                y=grid_y.flatten().tolist(),
                mode="markers",
                marker=dict(size=12, opacity=0.06, color="grey"),
                hovertemplate="(%{x:.1f}, %{y:.1f})<extra>click to add</extra>",
                showlegend=False,
            )
        )
        qx_, qy_ = episode.query_x, episode.query_y
        for k, colour in enumerate(("#2166ac", "#b2182b")):
            click_fig.add_trace(
                go.Scatter(
                    x=qx_[qy_ == k, 0].tolist(),
                    y=qx_[qy_ == k, 1].tolist(),
                    mode="markers",
                    marker=dict(size=4, color=colour, opacity=0.4),
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            mine = [(x, y) for x, y, lab in state.toy_points if lab == k]
            if mine:
                click_fig.add_trace(
                    go.Scatter(
                        x=[m[0] for m in mine],
                        y=[m[1] for m in mine],
                        mode="markers",
                        showlegend=False,
                        hoverinfo="skip",
                        marker=dict(size=12, color=colour, line=dict(color="black", width=1.5)),
                    )
                )
        click_fig.update_xaxes(range=[-16.5, 16.5])
        click_fig.update_yaxes(range=[-16.5, 16.5], scaleanchor="x", scaleratio=1)
        click_fig.update_layout(height=460, width=480, margin=dict(t=10, b=10, l=10, r=10), clickmode="event+select")
        event = st.plotly_chart(click_fig, on_select="rerun", selection_mode="points", key="toy_click", width="content")
        picked = [
            (round(float(p["x"]), 2), round(float(p["y"]), 2))
            for p in (event.selection.points if event else [])
            if p.get("curve_number", 0) == 0
        ]
        if picked and picked != state.get("toy_last_pick"):
            state.toy_last_pick = picked  # a selection stays until the next click: add it once
            room = MAX_POINTS - len(state.toy_points)
            state.toy_points = state.toy_points + [(x, y, click_class) for x, y in picked][:room]
            st.rerun()
    st.caption(
        f"{sum(1 for *_, lab in state.toy_points if lab == 0)} blue and {sum(1 for *_, lab in state.toy_points if lab == 1)} red point(s) placed"
        + (f" (at most {MAX_POINTS})." if len(state.toy_points) >= MAX_POINTS else ".")
    )
view.write()  # every setting above is in the URL now; α (below, in a fragment) writes its own change
if use_points and len({lab for _, _, lab in state.toy_points}) == 2:
    pts_ = sorted(state.toy_points, key=lambda p: p[2])
    episode = hm.Episode(
        torch.tensor([[x, y] for x, y, _ in pts_]), torch.tensor([lab for *_, lab in pts_]), episode.query_x, episode.query_y
    )

# The view: the usual region, grown to hold every point, made square.
pts = torch.cat([episode.support_x, episode.query_x])
lo = torch.minimum(pts.min(0).values - 2, torch.tensor([-12.0, -8.0]))
hi = torch.maximum(pts.max(0).values + 2, torch.tensor([8.0, 12.0]))
side = float((hi - lo).max())
centre = (lo + hi) / 2
xlim = (float(centre[0]) - side / 2, float(centre[0]) + side / 2)
ylim = (float(centre[1]) - side / 2, float(centre[1]) + side / 2)

hyper, maml, proto = models["hypermaml"], models["maml"], models["protonet"]


@st.cache_data(max_entries=64, show_spinner=False)
def compute_panels(models_key: str, _models: dict, sx, sy, qx, qy, xlim, ylim):
    """Every panel for one task (adapt, time, score, grid, picture), cached across reruns and sessions: moving
    α or reopening the page redraws without adapting again. ``models_key`` names the models (bundled or live);
    the bundled ones adapt in a worker process (``app.compute``), a visitor's freshly trained ones here."""
    if models_key == "bundled":
        return compute.run(compute.bundled_toy_panels, sx, sy, qx, qy, xlim, ylim)
    return compute.toy_panels(_models, sx, sy, qx, qy, xlim, ylim)


models_key = state.get("toy_live_key", "live") if models is state.get("toy_live_models") else "bundled"
arrays = tuple(t.numpy() for t in (episode.support_x, episode.support_y, episode.query_x, episode.query_y))
panels, update_table, panels_figure, alpha_one = compute_panels(models_key, models, *arrays, xlim, ylim)

m1, m2, m3, m4 = st.columns(4)
m1.metric("HyperMAML, 1 update", f"{100 * panels[0].accuracy:.0f}%")
m2.metric("MAML, 1 step", f"{100 * panels[2].accuracy:.0f}%")
m3.metric("MAML, 5 steps", f"{100 * panels[6].accuracy:.0f}%")
m4.metric("ProtoNet", f"{100 * panels[7].accuracy:.0f}%")
st.image(
    panels_figure,
    width="stretch",
    output_format="PNG",
    caption="Colour: the probability of red (class 1); black line: the decision boundary.",
)
# Adapted models well below chance (not θ itself, whose 0 steps are a coin's guess by design) need a word.
flipped = [p.title.replace(":", "") for p in panels if p.accuracy < 0.4 and not p.title.startswith("MAML: 0 steps")]
if flipped:
    st.info(
        f"Well below 50% ({', '.join(flipped)}): worse than a coin, because the model has the two labels the wrong "
        "way round for this task. A binary task here is one of four types (which pair of ellipses, which label "
        "first), and a few support points can point to the wrong one: a point drawn from the far tail of its "
        f"ellipse looks like the other class. With {n_shot} point{'s' if n_shot > 1 else ''} per class that can "
        "happen; try another seed, or more support points."
    )
st.caption(
    f"Under each title: query accuracy and the adaptation time, the CPU time of one adaptation on this machine (after a warm-up, the best of 3), measured when the task was first drawn. MAML's inner learning rate is "
    f"{maml.config.maml.inner_lr} (it was meta-trained for {maml.config.maml.train_steps} step)."
)


@st.cache_data(max_entries=256, show_spinner=False)
def alpha_picture(models_key: str, _model, sx, sy, qx, qy, xlim, ylim, alpha: float) -> bytes:
    """θ + α·Δθ for one task and α, cached across reruns and visitors (α = 1 comes with the panels)."""
    if models_key == "bundled":
        return compute.run(compute.bundled_toy_alpha, sx, sy, qx, qy, xlim, ylim, alpha)
    return compute.toy_alpha(_model, sx, sy, qx, qy, xlim, ylim, alpha)


@st.fragment
def hypernetwork_update() -> None:
    st.subheader("What the hypernetwork produced")
    left, right = st.columns([3, 2])
    alpha = left.slider(
        "Blend α: draw θ + α·Δθ",
        0.0,
        1.5,
        step=0.05,
        key="toy_alpha",
        help="0 is the base classifier θ, 1 is HyperMAML's adapted classifier; beyond 1 extrapolates.",
    )
    view.write()  # a rerun of this fragment alone: α into the URL
    picture = alpha_one if alpha == 1.0 else alpha_picture(models_key, hyper, *arrays, xlim, ylim, alpha)
    left.image(picture, width="stretch", output_format="PNG", caption=f"θ + {alpha:.2f}·Δθ")
    right.markdown(
        "Per class, the hypernetwork reads the support points with the base classifier's "
        "probabilities and the labels, and outputs that class's change of weight row and bias. "
        "Moving α from 0 to 1 walks from the shared start θ to the task's classifier; the dashed lines "
        "mark α = 0, ¼, ½, ¾ and 1. The update, per class (the weights act on the standardised coordinates "
        "the model sees inside):"
    )
    st.markdown(update_table)  # full width: five columns do not fit beside the picture on a 1024 px screen


hypernetwork_update()
