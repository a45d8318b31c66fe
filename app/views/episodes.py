"""Real episodes: one 5-way task from real data, every method's predictions side by side."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from app import compute, url_state, workers
from app.figures import LABELS, METHOD_COLOURS, SCALE, steps_chart, summary_chart
from app.resources import PRETRAINED, available_datasets, benchmark_models, many_episodes
from app.user_task import counted
from hypermaml.data.reference import OMNIGLOT_EMNIST, OMNIGLOT_VINYALS, PAPER_PROTOCOL
from hypermaml.training import trained_from_scratch

N_WAY, MAX_STEPS = compute.N_WAY, compute.MAX_STEPS
CHANCE = compute.CHANCE_WAY
accuracy = compute.accuracy
SEEN = {
    "emnist-test": "The models were meta-trained on Omniglot characters and never saw EMNIST's letters and digits.",
    "emnist-val": "The models never trained on EMNIST, but these classes (even indices) chose their epochs and "
    "recipes, so they are not a clean test.",
    "omniglot-test": "Omniglot characters of the Vinyals test split, with models meta-trained on the Vinyals "
    "training split only (1 shot): they never saw these characters. As in that protocol, each character turned "
    'by 90°, 180° and 270° is a class of its own, so "rotated 90°" is a different class from the upright '
    "character (four times as many classes to tell apart).",
    "digits": "The models never saw them.",
}
SHORT = {  # what the select shows (the full description is under it)
    "emnist-test": "EMNIST (test)",
    "emnist-val": "EMNIST (validation)",
    "omniglot-test": "Omniglot (Vinyals)",
    "digits": "Digits (scikit-learn)",
}
EPISODE_COUNTS = {"20": 20, "100": 100, "600": 600}
presenting = url_state.presenter()
FIG_W = 960 if presenting else 660
MAX_W = round(FIG_W * SCALE)  # shown at most as wide as its pixels: text enlarged by 30% at most, never resized
SUPPORT_PX, QUERY_PX = (96, 80) if presenting else (56, 56)  # one image of 28 x 28 pixels, enlarged


@st.cache_data(max_entries=256, show_spinner="Adapting the transductive models ...")
def transductive_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict[str, tuple[float, float]]:
    """The transductive models' accuracy on one episode with its queries together and one at a time."""
    return workers.run(compute.transductive_results, name, n_shot, seed, benchmark)


@st.cache_data(max_entries=256, show_spinner="Adapting every model to this episode ...")
def episode_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict:
    """Everything the page shows for one episode, computed once (in a worker process, ``app.workers``) and
    shared by every visitor: the images and each method's probabilities (MAML's at every step 0..10 from one
    inner loop)."""
    return workers.run(compute.episode_results, name, n_shot, seed, benchmark)


@st.cache_data(max_entries=128, show_spinner=False)
def chart(kind: str, args: tuple, fmt: str = "png") -> bytes:
    """A chart of the page (drawn in a worker process), cached by what it shows."""
    fn = {"steps": steps_chart, "summary": summary_chart}[kind]
    ring = ("episode",) if kind == "summary" else ()  # the summary's ring marks the episode on the page
    return workers.run(fn, *args, FIG_W, fmt, *ring)


@st.cache_data(show_spinner=False)
def benchmark_table(benchmark: str) -> str:
    """The stored benchmark numbers beside the published ones, as a Markdown table (read once, then cached)."""
    reference = OMNIGLOT_VINYALS if benchmark == "omniglot_vinyals" else OMNIGLOT_EMNIST
    lines = [
        "| method | shots | ours, one at a time (%) | trained | published (%) | transductive: together / alone (%) |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for (method, shot), paper in reference.items():
        ours, trained, old_row = "not trained yet", "–", "–"
        path = PRETRAINED / f"{benchmark}_{method}_{shot}shot.json"
        m = json.loads(path.read_text()) if path.is_file() else {}
        if "test_accuracy_alone" in m:
            ours = f"{100 * m['test_accuracy_alone']:.2f} ± {100 * m['test_ci95_alone']:.2f}"
        if m:
            trained = how_trained(m)
        old = PRETRAINED / "transductive" / path.name
        if trained_from_scratch(m):  # no first stage: that transductive model is not this one's
            old_row = "—"
        elif old.is_file():
            m = json.loads(old.read_text())
            if "test_accuracy_alone" in m:
                old_row = f"{100 * m['test_accuracy']:.1f} / {100 * m['test_accuracy_alone']:.1f}"
        ours, paper = (v.replace(" ± ", "\u00a0±\u00a0") for v in (ours, paper))  # a number never wraps at its ±
        lines.append(f"| {LABELS[method]} | {shot} | {ours} | {trained} | {paper} | {old_row} |")
    return "\n".join(lines)


def how_trained(metrics: dict) -> str:
    """From random weights (and how many seeds it was the best of, on common validation), or fine-tuned from the
    transductive model: what a checkpoint's stored run config and selection say."""
    if not trained_from_scratch(metrics):
        return "fine-tuned" if "run_config" in metrics else "–"
    seeds = len((metrics.get("chosen_by_common_validation") or {}).get("seeds", []))
    nbsp = "\u00a0"  # the label breaks, if at all, after its comma
    return f"from{nbsp}scratch" + (f", {seeds}{nbsp}seed{'s' if seeds > 1 else ''}" if seeds else "")


def downloads(key: str, stem: str, png, svg, what: str, label: str = "") -> None:
    with st.container(horizontal=True, key=f"{key}_downloads", vertical_alignment="center"):
        if label:
            st.caption(label)
        st.download_button("PNG", png, f"{stem}.png", "image/png", key=f"{key}_png", icon=":material/download:",
                           on_click="ignore", help=f"Download {what} as a PNG picture")  # fmt: skip
        st.download_button("SVG", svg, f"{stem}.svg", "image/svg+xml", key=f"{key}_svg", icon=":material/download:",
                           on_click="ignore", help=f"Download {what} as an SVG drawing (for slides, any size)")  # fmt: skip


def steps_label(k: int) -> str:
    return counted(k, "step")


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
        url_state.flag("many", "episodes_many", "Run many episodes"),
        url_state.choice("episodes", "episodes_count", "Episodes", 100, EPISODE_COUNTS),
    ],
)
view.header("Real episodes")
if not presenting:
    st.caption(
        "A 5-way task sampled from real images: a few labelled support images per class, then queries. "
        "Every model here classifies each query on its own: its answer depends on the support set and that "
        "image, never on the other queries."
    )

c1, c2, c3, c4 = st.columns([4, 2, 3, 4])
# No value= on the widgets below: `view` gave each its value (from the link, or the default).
name = c1.selectbox("Images", list(choices), format_func=lambda n: SHORT.get(n, n), key="episodes_data", help=None)
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
st.caption(f"**{name}**: {choices[name]}. {SEEN[name]}")
if "digits" == name and len(choices) == 1:
    st.info("Only scikit-learn's digits are available: set HYPERMAML_DATA to the shared data folder for EMNIST and Omniglot.")

benchmark = "omniglot_vinyals" if vinyals else "omniglot_emnist"
if not benchmark_models(n_shot, benchmark):
    view.write()
    st.warning(f"No {n_shot}-shot {benchmark} checkpoints are bundled yet.")
    st.stop()
result = episode_results(name, n_shot, seed, benchmark)
names = [compute.readable(n) for n in result["names"]]
short = [compute.readable(n, short=True) for n in result["names"]]
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
    col.image(imgs, width=round(SUPPORT_PX * 0.8) if len(imgs) > 1 else SUPPORT_PX, output_format="PNG")

metric_cols = st.columns(len(probs))
for col, (method, p) in zip(metric_cols, probs.items()):
    label = f"{LABELS[method]} accuracy" + (f" ({steps_label(steps)})" if method == "maml" else "")
    col.metric(label, f"{100 * accuracy(p, query_y):.0f}%", help=f"{len(query_y)} queries, each classified on its own")
    if method == "maml" and steps == 0:
        col.caption(
            "At 0 steps MAML answers with its meta-learned start, whose head is no classifier for this episode: "
            "the labels 0–4 go to the classes at random, so it is at chance (20%) on average, and any one "
            "episode can land below."
        )
st.caption(f"{len(query_y)} queries, {len(query_y) // N_WAY} per class. Chance (guessing among five classes): 20%.")

st.subheader("Queries and predictions")
st.caption(
    "The queries are grouped by class, the class named at the top of its group (side by side, or one group after "
    "another on a narrow screen); every guess is named by its class."
)
qcols = st.columns(N_WAY)
for c, col in enumerate(qcols):  # the class named at each column's top: on a phone the columns stack
    col.markdown(f"**Queries of {short[c]}**")
for i in range(len(query_y)):
    truth = int(query_y[i])
    col = qcols[truth]
    lines = []
    for method, p in probs.items():
        guess = int(p[i].argmax())
        mark = ":green[✓]" if guess == truth else ":red[✗]"
        lines.append(f"{mark} {LABELS[method]}: {short[guess]} ({100 * float(p[i, guess]):.0f}%)")
    col.image(result["query"][i], width=QUERY_PX, output_format="PNG")
    (col.markdown if presenting else col.caption)("  \n".join(lines))  # presenter mode: full-size text, for the room
episode_title = f"{SHORT.get(name, name)}, {n_shot}-shot episode, seed {seed}" + (
    f" (MAML after {steps_label(steps)})" if "maml" in probs else ""
)
frozen_probs = {k: np.asarray(v) for k, v in probs.items()}
downloads(
    "episode_sheet",
    f"episode-{name}-{n_shot}shot-seed{seed}",
    lambda: workers.run(compute.episode_picture, result, frozen_probs, short, episode_title, "png"),
    lambda: workers.run(compute.episode_picture, result, frozen_probs, short, episode_title, "svg"),
    "this episode (support set, queries and every guess) as one picture",
    "This episode as one picture (support set, queries, every guess):",
)

many_on = st.toggle(
    "Beyond one episode: run many episodes",
    key="episodes_many",
    help="Every method on the episodes of seeds 0 to N−1 with these images and shots: its mean and 95% interval.",
)
many = None
n_many = int(st.session_state.get("episodes_count", 100))
if many_on:
    st.segmented_control("Episodes", list(EPISODE_COUNTS.values()), key="episodes_count", required=True)
    n_many = int(st.session_state.episodes_count)
    seconds = n_many * (0.15 if n_shot == 1 else 0.6) / max(1, workers.count())
    text = (
        f"Running {n_many} episodes, once for everyone (about {max(5, round(seconds, -1)):.0f} s on an idle machine, "
        "longer on a busy one)"
    )
    bar = st.empty()  # a progress bar only while the episodes run (a setting already run shows at once)
    many = many_episodes(name, n_shot, benchmark, n_many, lambda done, n: bar.progress(done / n, f"{text}: {done} of {n} done"))
    bar.empty()
view.write()

if result["maml_steps"]:
    st.subheader("MAML: accuracy as the inner steps grow")
    accs = tuple(accuracy(p, query_y) for p in result["maml_steps"])
    others = {m: accuracy(p, query_y) for m, p in probs.items() if m != "maml"}
    mean = tuple(compute.mean_ci(many["maml"][:, k]) for k in range(MAX_STEPS + 1)) if many else None
    args = (list(accs), steps, others, CHANCE, mean)
    with st.container(key="wide_figure_episodes_steps"):  # on a phone: its own width, scrolled sideways
        st.image(chart("steps", args), width=MAX_W, output_format="PNG")
    downloads(
        "maml_steps", f"maml-steps-{name}-seed{seed}", chart("steps", args), lambda: chart("steps", args, "svg"), "this chart"
    )

if many is not None:
    st.subheader(f"Beyond one episode: {n_many} episodes")
    shown_steps = sorted({0, 1, steps, MAX_STEPS})  # the chart's MAML rows: the sentence names each of them
    results = {
        "HyperMAML": compute.mean_ci(many["hypermaml"]),
        **{f"MAML ({steps_label(k)})": compute.mean_ci(many["maml"][:, k]) for k in shown_steps},
        "ProtoNet": compute.mean_ci(many["protonet"]),
    }
    st.markdown(compute.verdict(results, CHANCE, n_many, "episodes"))
    among_them = seed < n_many  # this episode is one of the many: its ring is drawn
    rows = [("HyperMAML", METHOD_COLOURS["hypermaml"], tuple(many["hypermaml"]), others.get("hypermaml") if among_them else None)]
    rows += [
        (f"MAML, {steps_label(k)}", METHOD_COLOURS["maml"], tuple(many["maml"][:, k]), accs[k] if among_them else None)
        for k in shown_steps
    ]
    rows.append(("ProtoNet", METHOD_COLOURS["protonet"], tuple(many["protonet"]), others.get("protonet") if among_them else None))
    title = f"{n_many} episodes, seeds 0–{n_many - 1}" + ("; ring: this episode" if among_them else "")
    args = (rows, CHANCE, title)
    with st.container(key="wide_figure_episodes_summary"):  # on a phone: its own width, scrolled sideways
        st.image(chart("summary", args), width=MAX_W, output_format="PNG")
    downloads("many_episodes", f"episodes-{name}-{n_shot}shot-{n_many}", chart("summary", args),
              lambda: chart("summary", args, "svg"), "this chart")  # fmt: skip

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

if vinyals:
    st.subheader("Benchmark of these models: Omniglot, Vinyals split, 600 test episodes")
    published = (
        "the original papers' (MAML: Finn et al. 2017; ProtoNet: Snell et al. 2017; the HyperMAML paper has no such table)"
    )
else:
    st.subheader("Benchmark of these models: Omniglot → EMNIST, 600 test episodes")
    published = f"the HyperMAML paper's, {PAPER_PROTOCOL}"
with st.container(key="wide_table_benchmark"):  # six columns: on a phone it scrolls sideways (studio.py)
    st.markdown(benchmark_table(benchmark))
st.caption(
    f"Ours: `python -m benchmarks.omniglot_emnist` on the bundled checkpoints, each query on its own. Trained: from "
    "random weights (the seed best on validation), or fine-tuned from the transductive model of the last column "
    "(which loses many points with one query at a time); "
    f"how, the documentation's *Reproduce the paper* page (`docs/reproduce.md`). Published numbers: {published}. "
    + ("" if name in ("emnist-test", "omniglot-test") else "The benchmark's test images are not the ones chosen above.")
)
