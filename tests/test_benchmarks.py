"""The committed Omniglot checkpoints (->EMNIST and Vinyals) reproduce the numbers stored beside them and in the README."""

import json
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from benchmarks.omniglot_emnist import BENCHMARKS, EPISODES, checkpoint_path, kept_epoch, measure, training_log
from hypermaml.backbones import BATCH_INDEPENDENT

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for b in BENCHMARKS for p in (ROOT / "pretrained").glob(f"{b}_*.pt"))
TRANSDUCTIVE = sorted(p for b in BENCHMARKS for p in (ROOT / "pretrained" / "transductive").glob(f"{b}_*.pt"))
COMMITTED = SHIPPED + TRANSDUCTIVE
# Episodes re-evaluated per checkpoint: a fixed, cheap slice of the stored 600 (the first ones, same seed).
# MAML's ten inner steps make its episodes several times dearer (a 5-shot one about a second on one core):
# a shorter slice, still 750 queries.
SLICE = {"maml": 10, "hypermaml": 20, "protonet": 20}


def ids(paths):
    return [("transductive/" if p.parent.name == "transductive" else "") + p.stem for p in paths]


def test_every_committed_benchmark_checkpoint_has_its_metrics_and_is_small():
    assert len(SHIPPED) == len(TRANSDUCTIVE) == 9
    for path in COMMITTED:
        assert path.stat().st_size < 5_000_000, path
        stored = json.loads(path.with_suffix(".json").read_text())
        assert {
            "test_accuracy",
            "test_ci95",
            "test_accuracy_alone",
            "test_ci95_alone",
            "test_accuracies",
            "test_accuracies_alone",
            "test_protocol",
            "train_seconds",
        } <= set(stored)
        assert len(training_log(stored)) == stored["epochs_run"]
        assert len(stored["test_accuracies"]) == len(stored["test_accuracies_alone"]) == EPISODES


def test_the_shipped_models_are_batch_independent_and_the_old_ones_transductive():
    for path in SHIPPED:
        assert hm.load(path).config.backbone.batch_norm in BATCH_INDEPENDENT, path
    for path in TRANSDUCTIVE:
        assert hm.load(path).config.backbone.batch_norm == "transductive", path


@pytest.fixture
def one_thread():
    """The stored numbers were measured on one torch thread (benchmarks/omniglot_emnist.py): MAML's ten steps
    sum in another order on two, which can flip a borderline query."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("path", COMMITTED, ids=ids(COMMITTED))
def test_a_slice_of_the_stored_episodes_reproduces_exactly(path, split, one_thread):
    # The stored per-episode accuracies of the first SLICE episodes (same seed, same episodes), one query at a
    # time for the shipped models (the protocol users get), and both ways for the transductive ones.
    model = hm.load(path)
    n = SLICE[model.config.method]
    stored = json.loads(path.with_suffix(".json").read_text())
    benchmark = next(b for b in BENCHMARKS if path.stem.startswith(b))
    test_split = BENCHMARKS[benchmark]["test"]
    assert stored["test_protocol"].startswith(test_split + ",")
    # The transductive models' one-at-a-time numbers (the README's "together / alone" column and the points they
    # lose) are reproduced too.
    protocols = [("test_accuracies_alone", 1)] if path in SHIPPED else [("test_accuracies", None), ("test_accuracies_alone", 1)]
    for key, query_batch in protocols:
        result = measure(model, split(test_split), model.config.n_shot, n, query_batch=query_batch)
        expected = stored[key][:n]
        # equal, up to float noise in a rare borderline query on another CPU: at most one episode off by one query
        differ = [(a, b) for a, b in zip(result.accuracies.tolist(), expected) if abs(a - b) > 1e-6]
        assert len(differ) <= 1 and all(abs(a - b) <= 1 / 75 + 1e-6 for a, b in differ), (key, differ)
        assert len(result.accuracies) == n
        assert sum(expected) / n == pytest.approx(result.mean, abs=1 / 75)


@pytest.mark.parametrize("path", SHIPPED, ids=ids(SHIPPED))
def test_the_stored_numbers_are_the_readme_numbers(path):
    stored = json.loads(path.with_suffix(".json").read_text())
    assert stored["test_accuracies_alone"] == stored["test_accuracies"]  # batch-independent: both protocols agree
    readme = (ROOT / "README.md").read_text()
    assert f"{100 * stored['test_accuracy_alone']:.2f} ± {100 * stored['test_ci95_alone']:.2f}" in readme
    row = next(line for line in readme.splitlines() if f"{100 * stored['test_accuracy_alone']:.2f} ± " in line)
    if not stored["run_config"]["train"].get("init_from"):  # trained from scratch: no transductive model behind it
        assert "— (trained from scratch)" in row and "| from scratch: " in row
        return
    old = json.loads((path.parent / "transductive" / path.name).with_suffix(".json").read_text())
    assert f"{100 * old['test_accuracy']:.2f} ± {100 * old['test_ci95']:.2f} / {100 * old['test_accuracy_alone']:.2f}" in row
    assert "| fine-tuning: " in row


@pytest.mark.parametrize("path", SHIPPED, ids=ids(SHIPPED))
def test_each_shipped_query_gets_its_batch_logits_alone(path, split):
    model = hm.load(path)
    benchmark = next(b for b in BENCHMARKS if path.stem.startswith(b))
    data = split(BENCHMARKS[benchmark]["test"])
    ep = hm.EpisodeSampler(data.x, data.y, 5, model.config.n_shot, 15).sample(torch.Generator().manual_seed(7))
    with torch.no_grad():
        task = model.adapt(ep.support_x, ep.support_y)
        together = model.logits(ep.query_x, task)
        alone = torch.cat([model.logits(x[None], task) for x in ep.query_x])
        one_class = model.logits(ep.query_x[ep.query_y == 0], task)
    assert torch.equal(together.argmax(-1), alone.argmax(-1))
    assert ((together - alone).abs().max() / together.abs().max()) <= 1e-4
    assert ((together[ep.query_y == 0] - one_class).abs().max() / together.abs().max()) <= 1e-4


def test_checkpoint_names_follow_the_documented_pattern():
    assert checkpoint_path("hypermaml", 1).name == "omniglot_emnist_hypermaml_1shot.pt"
    assert checkpoint_path("maml", 1, "omniglot_vinyals").name == "omniglot_vinyals_maml_1shot.pt"
    names = {p.stem for p in COMMITTED}
    assert {f"omniglot_emnist_{m}_{k}shot" for m in ("hypermaml", "maml", "protonet") for k in (1, 5)} <= names
    assert {f"omniglot_vinyals_{m}_1shot" for m in ("hypermaml", "maml", "protonet")} <= names


def test_the_best_validation_run_of_each_row_is_imported(tmp_path):
    import benchmarks.omniglot_emnist as bench
    from benchmarks.omniglot_emnist import candidate_runs, import_runs

    cfg = hm.ModelConfig(
        method="protonet", backbone=hm.BackboneConfig(kind="identity", input_mean=(0.0, 0.0), input_std=(1.0, 1.0))
    )
    for name, val in [("protonet_1shot", 0.5), ("protonet_1shot_aug", 0.7), ("protonet_1shotx", 0.9), ("protonet_5shot_a", 0.6)]:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        hm.save(hm.build_model(cfg), run / "best.pt", metrics={"val_mean": val, "epoch": 1})
        (run / "metrics.jsonl").write_text('{"epoch": 1, "seconds": 60.0}\n')
        (run / "run_config.json").write_text('{"train": {"episodes_per_epoch": 100}, "data": {}}')
    # "protonet_1shotx" is another row's name pattern, not a variant of protonet_1shot
    assert [d.name for d in candidate_runs(tmp_path / "runs", "protonet_1shot")] == ["protonet_1shot", "protonet_1shot_aug"]
    original = bench.PRETRAINED
    bench.PRETRAINED = tmp_path / "pretrained"
    bench.PRETRAINED.mkdir()
    try:
        import_runs(tmp_path / "runs", hardware="test")
        imported = hm.load(bench.checkpoint_path("protonet", 1))
        assert imported.metrics["run"] == "protonet_1shot_aug"
        assert imported.metrics["chosen_by_validation_from"] == {"protonet_1shot": 0.5, "protonet_1shot_aug": 0.7}
        assert imported.metrics["hardware"] == "test; threads not recorded per epoch"
        assert hm.load(bench.checkpoint_path("protonet", 5)).metrics["run"] == "protonet_5shot_a"
        # scripts/ship_from_scratch.sh names the run chosen on the common validation episodes, and why
        import_runs(tmp_path / "runs", only=["protonet_1shot"], choose="protonet_1shot", selection={"best_seed": 0})
        imported = hm.load(bench.checkpoint_path("protonet", 1))
        assert imported.metrics["run"] == "protonet_1shot"
        assert imported.metrics["chosen_by_common_validation"] == {"best_seed": 0}
        with pytest.raises(SystemExit, match="no such run"):
            import_runs(tmp_path / "runs", only=["protonet_1shot"], choose="protonet_1shot_s9")
    finally:
        bench.PRETRAINED = original


def test_the_stored_hardware_names_the_threads_the_epochs_recorded(tmp_path):
    from benchmarks.omniglot_emnist import with_threads

    for name, threads in [("s0", [1, 1, 2]), ("s1", [2])]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.jsonl").write_text("".join(json.dumps({"epoch": 1, "threads": t}) + "\n" for t in threads))
    assert with_threads("cpu", [tmp_path / "s1"]) == "cpu; torch threads per process (recorded per epoch): 2"
    assert with_threads("cpu", [tmp_path / "s0", tmp_path / "s1"]).endswith(": 1 or 2")
    (tmp_path / "s1" / "metrics.jsonl").write_text('{"epoch": 1}\n')  # a run from before the record
    assert with_threads("cpu", [tmp_path / "s0", tmp_path / "s1"]) == "cpu; threads not recorded per epoch"


@pytest.mark.parametrize("path", SHIPPED, ids=ids(SHIPPED))
def test_a_committed_model_works_on_any_dark_on_light_28px_images(path, split):
    # scikit-learn's digits were never seen in training; the input convention alone makes them usable.
    model = hm.load(path)
    digits = split("digits")
    sampler = hm.EpisodeSampler(digits.x, digits.y, 5, model.config.n_shot, 10)
    # 40 episodes of 50 queries; 10 for MAML, whose ten inner steps make a 5-shot episode about a second
    result = hm.evaluate(model, sampler, n_episodes=10 if model.config.method == "maml" else 40, seed=0)
    assert result.mean > 0.5  # chance is 0.2
    ep = sampler.sample(torch.Generator().manual_seed(1))
    assert model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y)).shape == (50, 5)


@pytest.mark.parametrize("path", COMMITTED, ids=ids(COMMITTED))
def test_each_checkpoint_was_trained_by_the_config_of_its_name(path):
    # "produced by the configs in the repo": the run's recorded config is hypermaml/configs/<name>.json
    # (hypermaml/configs/transductive/ for pretrained/transductive/; the device aside), and the config's
    # epochs are the epochs the run went through. A shipped model starts from its transductive namesake.
    import dataclasses

    from hypermaml.config import ModelConfig, TrainConfig, from_dict

    # A shipped model fine-tuned from its transductive namesake was made by hypermaml/configs/finetune/<name>.json;
    # one trained from scratch by hypermaml/configs/<name>.json (whose init_from is None).
    stored = json.loads(path.with_suffix(".json").read_text())
    run = stored["run_config"]
    started_from = run["train"].get("init_from")
    kind = "transductive" if path.parent.name == "transductive" else "finetune" if started_from else ""
    config = json.loads((ROOT / "hypermaml" / "configs" / kind / f"{path.stem}.json").read_text())
    if kind == "finetune":  # configs name the model to start from, not a repository path (runs recorded the path)
        assert config["train"]["init_from"] == f"transductive/{path.stem}"
        assert started_from in (f"pretrained/transductive/{path.name}", f"transductive/{path.stem}")
        run = {**run, "train": {**run["train"], "init_from": config["train"]["init_from"]}}
    assert from_dict(ModelConfig, run["model"]) == from_dict(ModelConfig, config["model"]) == hm.load(path).config
    ran = dataclasses.replace(from_dict(TrainConfig, run["train"]), epochs=stored["epochs_run"], device="cpu")
    assert ran == dataclasses.replace(from_dict(TrainConfig, config["train"]), device="cpu")
    assert run["data"] == config["data"]
    assert len(training_log(stored)) == stored["epochs_run"] and 1 <= kept_epoch(stored) <= stored["epochs_run"]


def test_seeds_of_the_chosen_recipe_are_recorded_for_the_across_seed_summary(tmp_path):
    import benchmarks.omniglot_emnist as bench

    cfg = hm.ModelConfig(
        method="protonet", backbone=hm.BackboneConfig(kind="identity", input_mean=(0.0, 0.0), input_std=(1.0, 1.0))
    )
    for name, val in [
        ("protonet_1shot_metabn_s0", 0.5),
        ("protonet_1shot_metabn_s1", 0.7),
        ("protonet_1shot_metabn_s2", 0.6),
        ("protonet_1shot_tasknorm-i_s0", 0.55),
    ]:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        hm.save(hm.build_model(cfg), run / "best.pt", metrics={"val_mean": val, "epoch": 1})
        (run / "metrics.jsonl").write_text('{"epoch": 1, "seconds": 60.0}\n')
        (run / "run_config.json").write_text('{"train": {"episodes_per_epoch": 100}, "data": {}}')
    original = bench.PRETRAINED
    bench.PRETRAINED = tmp_path / "pretrained"
    bench.PRETRAINED.mkdir()
    try:
        bench.import_runs(tmp_path / "runs")
        metrics = hm.load(bench.checkpoint_path("protonet", 1)).metrics
    finally:
        bench.PRETRAINED = original
    assert metrics["run"] == "protonet_1shot_metabn_s1"
    assert sorted(metrics["seed_runs"]) == ["protonet_1shot_metabn_s0", "protonet_1shot_metabn_s1", "protonet_1shot_metabn_s2"]
    assert (
        bench.seed_summary({"seed_runs": {"a": {"test_accuracy": 0.8}, "b": {"test_accuracy": 0.9}}}) == "85.00 ± 7.07 (2 seeds)"
    )


def test_the_readme_range_of_the_transductive_loss_counts_only_the_fine_tuned_rows():
    # "the transductive models (the first stage of the fine-tuned rows) lose A–B points one at a time": a row
    # trained from scratch has no first stage, so its old transductive model is not in the range
    losses = []
    for path in SHIPPED:
        if json.loads(path.with_suffix(".json").read_text())["run_config"]["train"].get("init_from"):
            old = json.loads((path.parent / "transductive" / path.name).with_suffix(".json").read_text())
            losses.append(100 * (old["test_accuracy"] - old["test_accuracy_alone"]))
    assert losses, "no fine-tuned row left: the sentence should go"
    stated = f"the first stage of the fine-tuned rows) lose {min(losses):.0f}–{max(losses):.0f} points one at a time"
    assert stated in (ROOT / "README.md").read_text()
