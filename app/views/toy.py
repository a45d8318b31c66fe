"""One update vs k steps, on the paper's four-Gaussian toy (Figure 1)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

import hypermaml as hm
from app import compute, url_state, workers
from app.figures import METHOD_COLOURS, SCALE, summary_chart
from app.resources import toy_models
from app.toy_ui import downloads, live_training_panel
from app.user_task import counted
from toy.tasks import TASK_TYPES, task_type_name

RANDOM = "random task type"
MAX_SEED = 2**31 - 1
MAX_POINTS = 100  # placed support points a link carries (a URL of about 1.5 kB)
POINT_RANGE = 50.0  # |x|, |y| of a placed point (the grid to click on spans ±16)
STEPS = list(compute.MAML_STEPS)
TASK_COUNTS = {"20": 20, "100": 100, "500": 500, "1000": 1000}
CHANCE = compute.CHANCE_TOY
names = [task_type_name(p, s) for p, s in TASK_TYPES]
# In the URL: "horizontal-swapped", not "horizontal, labels swapped" (which a URL spells with %2C and +).
TASK_WORDS = {f"{p}-swapped" if s else p: name for (p, s), name in zip(TASK_TYPES, names)} | {"random": RANDOM}
SHOW = {"all": "All at once", "steps": "Step through MAML"}
presenting = url_state.presenter()
# The width (CSS pixels) the pictures are laid out for: the page's column on a 1024 px screen, with the sidebar
# (660) or in presenter mode without it (960); wider screens stretch them.
FIG_W = 960 if presenting else 660
MAX_W = round(FIG_W * SCALE)  # shown at most as wide as its pixels: text enlarged by 30% at most, never resized

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
        url_state.integers("steps", "toy_steps", "MAML steps drawn", STEPS, STEPS),
        url_state.integers("present_steps", "toy_present_steps", "MAML steps drawn (presenter mode)", [1, 5], STEPS),
        url_state.choice("show", "toy_show", "Show", SHOW["all"], {w: v for w, v in SHOW.items()}),
        url_state.integer("step", "toy_step", "MAML step shown", 0, 0, max(STEPS)),
        url_state.choice("tasks", "toy_tasks", "Tasks", 100, TASK_COUNTS),
    ],
)
view.header("One hypernetwork update vs k gradient steps")
if not presenting:
    st.caption(
        "Binary tasks from the HyperMAML paper's Figure 1: two upright ellipses side by side, or two flat ones "
        "stacked, labels in either order; the classifier is linear on the raw coordinates. HyperMAML predicts its "
        "update Δθ in one forward pass; MAML takes gradient steps from its learned start θ. Large dots: the "
        "support set the models adapt on; small dots: queries. Chance is 50% (two classes)."
    )
state = st.session_state


models = toy_models()
use_live = bool(state.get("toy_use_live")) and "toy_live_models" in state
if use_live:
    models = state.toy_live_models
# No value= on the widgets below: `view` gave each its value (from the link, or the default).
c1, c2, c3 = st.columns([5, 5, 3])
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
        "The models were trained on the four Gaussians where they are; these move the task elsewhere. Who copes "
        "is measured below, over many tasks with these settings, not claimed here. (ProtoNet's boundary is, by "
        "its construction, halfway between the two class means wherever they lie.)"
    )

task_type = None if choice == RANDOM else names.index(choice)
episode = compute.toy_task(task_type, n_shot, seed, (shift_x, shift_y), rotation, spread)

# state.toy_points: [(x, y, label)] placed by clicking (or given by the link)
with st.expander("Place the support points yourself (click the plot)", expanded=state.toy_panels_open[1]):
    st.caption(
        "Click anywhere on the grid to add a point of the chosen class; the queries still come from the "
        "task above, so the accuracies say how well your support set describes it."
    )
    click_class = st.radio(
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

    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("Clear my points", key="toy_clear_points", on_click=clear_points)
        use_points = st.toggle(
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
        f"Placed: {counted(sum(1 for *_, lab in state.toy_points if lab == 0), 'blue point')} and "
        f"{counted(sum(1 for *_, lab in state.toy_points if lab == 1), 'red point')}"
        + (f" (at most {MAX_POINTS} in all)." if len(state.toy_points) >= MAX_POINTS else ".")
    )
if use_points and len({lab for _, _, lab in state.toy_points}) == 2:
    pts_ = sorted(state.toy_points, key=lambda p: p[2])
    episode = hm.Episode(
        torch.tensor([[x, y] for x, y, _ in pts_]), torch.tensor([lab for *_, lab in pts_]), episode.query_x, episode.query_y
    )
else:
    use_points = False

# The view: the usual region, grown to hold every point, made square.
pts = torch.cat([episode.support_x, episode.query_x])
lo = torch.minimum(pts.min(0).values - 2, torch.tensor([-12.0, -8.0]))
hi = torch.maximum(pts.max(0).values + 2, torch.tensor([8.0, 12.0]))
side = float((hi - lo).max())
centre = (lo + hi) / 2
xlim = (float(centre[0]) - side / 2, float(centre[0]) + side / 2)
ylim = (float(centre[1]) - side / 2, float(centre[1]) + side / 2)

hyper, maml, proto = models["hypermaml"], models["maml"], models["protonet"]
models_key = state.get("toy_live_key", "live") if use_live else "bundled"
arrays = tuple(t.numpy() for t in (episode.support_x, episode.support_y, episode.query_x, episode.query_y))
ALPHA_W = round(FIG_W * 0.6) - 16  # the left of two columns, 3 : 2


@st.cache_data(max_entries=64, show_spinner="Adapting the three models to this task ...")
def compute_panels(models_key: str, _models: dict, sx, sy, qx, qy, xlim, ylim, shown, width):
    """Every panel for one task (adapt, time, score, grid, picture), cached across reruns and sessions: moving
    α or reopening the page redraws without adapting again. ``models_key`` names the models (bundled or live);
    the bundled ones adapt in a worker process (``app.workers``; in the server while the workers start), a
    visitor's freshly trained ones here."""
    if models_key == "bundled":
        return workers.run(compute.bundled_toy_panels, sx, sy, qx, qy, xlim, ylim, shown, width, ALPHA_W, here_while_warming=True)
    return compute.toy_panels(_models, sx, sy, qx, qy, xlim, ylim, shown, width, ALPHA_W)


@st.cache_data(max_entries=64, show_spinner="Running the models on many tasks ...")
def many_tasks(models_key: str, _models: dict, task_type, n_shot, shift, rotation, spread, n_tasks) -> dict:
    """Every method on the page's tasks of seeds 0..n_tasks-1 (same settings), cached per setting: a new seed
    costs nothing here."""
    if models_key == "bundled":
        return workers.run(compute.bundled_toy_many, task_type, n_shot, shift, rotation, spread, n_tasks, here_while_warming=True)
    return compute.toy_many(_models, task_type, n_shot, shift, rotation, spread, n_tasks)


@st.cache_data(max_entries=32, show_spinner="Drawing MAML's steps ...")
def step_pictures(models_key: str, _models: dict, sx, sy, qx, qy, xlim, ylim, width) -> list[bytes]:
    if models_key == "bundled":
        return workers.run(compute.bundled_toy_step_pictures, sx, sy, qx, qy, xlim, ylim, width)
    return compute.toy_step_pictures(_models, sx, sy, qx, qy, xlim, ylim, width)


@st.cache_data(max_entries=64, show_spinner=False)
def summary_picture(rows: tuple, title: str, width: int, fmt: str) -> bytes:
    return workers.run(summary_chart, list(rows), CHANCE, title, width, fmt, here_while_warming=True)


def panels_svg(shown: tuple[int, ...], with_proto: bool = True) -> bytes:
    """The panels (HyperMAML, MAML after ``shown`` steps, ProtoNet) as SVG: for a download button, when clicked."""
    if models_key == "bundled":
        return workers.run(compute.bundled_toy_svg, *arrays, xlim, ylim, shown, FIG_W, with_proto)
    return compute.toy_svg(models, *arrays, xlim, ylim, shown, FIG_W, with_proto)


shown_key = "toy_present_steps" if presenting else "toy_steps"
shown = tuple(sorted(state.get(shown_key, [1, 5] if presenting else STEPS)))
panels, update_table, panels_figure, alpha_one = compute_panels(models_key, models, *arrays, xlim, ylim, shown, FIG_W)
n_tasks = int(state.get("toy_tasks", 100))
many = many_tasks(models_key, models, task_type, n_shot, (shift_x, shift_y), rotation, spread, n_tasks)
means = {label: compute.mean_ci(accs) for label, accs in zip(many["labels"], many["accuracies"])}
this_seed_counted = seed < n_tasks and not use_points


def figure_area() -> None:
    """The panels (all at once), or HyperMAML beside MAML one step at a time."""
    show = state.get("toy_show", SHOW["all"])
    if show == SHOW["steps"]:
        step_through()
    else:
        with st.container(key="wide_figure_toy_panels"):  # on a phone: its own width, scrolled sideways (studio.py)
            st.image(panels_figure, width=MAX_W, output_format="PNG")
        st.caption(  # outside the picture's box, so that on a phone it wraps to the screen, not to the picture
            "Colour: the probability of red (class 1); black line: the decision boundary. Under each title: "
            "query accuracy (chance is 50%) and the CPU time of one adaptation on this machine."
        )
        downloads("toy_panels", f"toy-seed{seed}", panels_figure, lambda: panels_svg(shown), "the panels")
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.segmented_control("Show", list(SHOW.values()), key="toy_show", required=True)
        if show == SHOW["all"]:
            st.pills(
                "MAML steps drawn (beside HyperMAML and ProtoNet)",
                STEPS,
                selection_mode="multi",
                format_func=lambda k: "0 (θ)" if k == 0 else str(k),
                key=shown_key,
            )


def step_through() -> None:
    playing = bool(state.get("toy_playing"))

    def go(to: int) -> None:
        state.toy_step, state.toy_playing = to, False

    def play() -> None:
        state.toy_playing = not state.get("toy_playing")
        if state.toy_playing:
            state.toy_step = -1  # the first tick shows θ (step 0)

    @st.fragment(run_every=1.3 if playing else None)
    def stepper() -> None:
        if bool(state.get("toy_playing")) != playing:  # Play or Stop in this fragment: the timer needs a full run
            st.rerun()
        if playing:  # one step per tick, then stop at the last
            if state.toy_step >= max(STEPS):
                state.toy_playing = False
                st.rerun()
            state.toy_step += 1
        k = int(state.toy_step)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.button("Back", icon=":material/skip_previous:", key="toy_step_back", disabled=k <= 0, on_click=go, args=(k - 1,))
            st.button("Next step", icon=":material/skip_next:", key="toy_step_next", disabled=k >= max(STEPS), type="primary",
                      on_click=go, args=(k + 1,))  # fmt: skip
            st.button("Stop" if playing else "Play from θ", icon=":material/stop:" if playing else ":material/play_arrow:",
                      key="toy_play", on_click=play)  # fmt: skip
            st.markdown(f"**MAML after {k} of {max(STEPS)} steps** · HyperMAML always takes one update")
        view.write()  # a fragment's run: the step into the URL
        pictures = step_pictures(models_key, models, *arrays, xlim, ylim, FIG_W)
        with st.container(key="wide_figure_toy_step"):
            st.image(pictures[k], width=MAX_W, output_format="PNG")
        st.caption("Query accuracy under each title; chance is 50%.")
        downloads("toy_stepper", f"toy-seed{seed}-maml-step{k}", pictures[k],
                  lambda: panels_svg((k,), with_proto=False), "this step")  # fmt: skip

    stepper()


def metrics_row() -> None:
    cols = st.columns(4)
    for col, (label, panel) in zip(
        cols,
        [("HyperMAML, 1 update", panels[0]), ("MAML, 1 step", panels[2]), ("MAML, 5 steps", panels[6]), ("ProtoNet", panels[7])],
    ):
        mean, half = means[label]
        col.metric(label, f"{100 * panel.accuracy:.0f}%", help="Query accuracy on this task; chance is 50%.")
        col.caption(f"mean of {n_tasks} tasks: **{compute.pct(mean, half)}**")
    st.caption(
        f"Big numbers: this task. Under them: the mean over {n_tasks} tasks with the same settings (seeds 0–{n_tasks - 1}) "
        "and its 95% interval. Chance (a coin's guess between the two classes): 50%. MAML's inner learning rate is "
        f"{maml.config.maml.inner_lr} (it was meta-trained for {maml.config.maml.train_steps} step)."
    )


if use_live:  # the numbers below are not the bundled models': say so where they are read
    st.info(
        "**Your freshly trained models** draw these panels and numbers, not the bundled ones. They live in this "
        "browser tab only: a link to this view opens the bundled models. Switch them off under *Train the three toy models yourself*, below.",
        icon=":material/model_training:",
    )
figure_area()
metrics_row()

# Why one MAML step sits at 50% here: documented (docs/reproduce.md, "Why one gradient step fails here"), and
# counted on the tasks above.
maml1 = panels[2].accuracy
if abs(maml1 - CHANCE) <= 0.1:
    one_class = int(many["one_class"].sum())
    # this task is one of those (seeds 0..n_tasks-1, same settings) when its seed is below n_tasks and the
    # support points are not the visitor's own
    this_one_class = bool(many["one_class"][seed]) if this_seed_counted else None
    mean1, half1 = means["MAML, 1 step"]
    mean5 = means["MAML, 5 steps"][0]
    st.info(
        f"**Why MAML after one step reads {100 * maml1:.0f}% here.** Its start θ must serve both label orders of a "
        "pair, so on its own it is a coin's guess; the one step it was meta-trained to take pivots the boundary around "
        "the centre of all the inputs (the middle of the four Gaussians), not around the middle of the pair in front "
        "of it, so the boundary often passes beside both ellipses and every query lands in one class: exactly 50%. "
        + (
            "On this task it did just that. "
            if this_one_class
            else "On this task it did not: its queries fall in both classes, but one step leaves the boundary too far "
            "from the middle of the pair. "
            if this_one_class is not None
            else ""
        )
        + f"On {one_class} of the {n_tasks} tasks below every query landed in one class; one step's mean is "
        f"{compute.pct(mean1, half1)}"
        + (
            f", and more steps move the boundary into place (5 steps: {100 * mean5:.0f}%). "
            if mean5 >= mean1 + 0.05
            else f"; here 5 steps do no better ({100 * mean5:.0f}%). "
        )
        + "In detail: the documentation's *Reproduce the paper* page (`docs/reproduce.md`), section \"Why one "
        'gradient step fails here".',
        icon=":material/help:",
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


def evidence() -> None:
    st.subheader(f"Beyond one task: {n_tasks} tasks with these settings")
    verdict_methods = ("HyperMAML, 1 update", "MAML, 1 step", "MAML, 5 steps", "ProtoNet")
    st.markdown(compute.verdict({m: means[m] for m in verdict_methods}, CHANCE, n_tasks))
    picked = [0, *(1 + k for k in shown), len(many["labels"]) - 1]
    colours = ["hypermaml", *["maml"] * len(shown), "protonet"]
    this = [p.accuracy for p in compute.chosen(panels, shown)] if this_seed_counted else [None] * len(picked)
    rows = tuple(
        (many["labels"][i], METHOD_COLOURS[c], tuple(many["accuracies"][i]), t) for i, c, t in zip(picked, colours, this)
    )
    title = f"{n_tasks} tasks, seeds 0–{n_tasks - 1}" + ("; ring: this task" if this_seed_counted else "")
    with st.container(key="wide_figure_toy_many"):
        st.image(summary_picture(rows, title, FIG_W, "png"), width=MAX_W, output_format="PNG")
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.segmented_control("Tasks", list(TASK_COUNTS.values()), key="toy_tasks", required=True,
                             help="How many tasks the means are taken over (cached: each setting is run once).")  # fmt: skip
        downloads("toy_many", f"toy-{n_tasks}-tasks", summary_picture(rows, title, FIG_W, "png"),
                  lambda: summary_picture(rows, title, FIG_W, "svg"), "this chart")  # fmt: skip


evidence()
view.write()  # every setting above is in the URL now; α and the stepper (in fragments) write their own changes


@st.cache_data(max_entries=256, show_spinner=False)
def alpha_picture(models_key: str, _model, sx, sy, qx, qy, xlim, ylim, alpha: float, width: int, fmt: str = "png") -> bytes:
    """θ + α·Δθ for one task and α, cached across reruns and visitors (α = 1 comes with the panels)."""
    if models_key == "bundled":
        return workers.run(compute.bundled_toy_alpha, sx, sy, qx, qy, xlim, ylim, alpha, width, fmt)
    return compute.toy_alpha(_model, sx, sy, qx, qy, xlim, ylim, alpha, width, fmt)


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
    picture = alpha_one if alpha == 1.0 else alpha_picture(models_key, hyper, *arrays, xlim, ylim, alpha, ALPHA_W)
    left.image(picture, width=round(ALPHA_W * SCALE), output_format="PNG", caption=f"θ + {alpha:.2f}·Δθ")
    with left:
        downloads("toy_alpha", f"toy-seed{seed}-alpha{alpha:.2f}", picture,
                  lambda: alpha_picture(models_key, hyper, *arrays, xlim, ylim, alpha, ALPHA_W, "svg"), "this picture")  # fmt: skip
    right.markdown(
        "Per class, the hypernetwork reads the support points with the base classifier's "
        "probabilities and the labels, and outputs that class's change of weight row and bias. "
        "Moving α from 0 to 1 walks from the shared start θ to the task's classifier; the dashed lines "
        "mark α = 0, ¼, ½, ¾ and 1. The update, per class (the weights act on the standardised coordinates "
        "the model sees inside):"
    )
    with st.container(key="wide_table_update"):  # on a phone it scrolls sideways (studio.py)
        st.markdown(update_table)  # full width: five columns do not fit beside the picture on a 1024 px screen


hypernetwork_update()

# (a key: the charts above show spinners while they compute, and without one the panel would fold on each rerun)
with st.expander("Train the three toy models yourself (about 20 seconds on an idle machine)", key="toy_train_panel"):
    st.caption(
        "The documented recipe (`python -m toy.train`) with a third of its episodes: meta-batches of 16 "
        "tasks, validation every epoch, best weights kept. It runs in the background at low priority, so "
        "other visitors are not slowed; it takes longer while many people use the studio. Training never "
        "touches the bundled files."
    )
    live_training_panel()
    st.toggle("Use my freshly trained models", key="toy_use_live", disabled="toy_live_models" not in state)
